"""What insight keeps: tracked links, opens and clicks, web reads per day, the audience per day,
the history of tiers, and each member's engagement.

Everything here is either a count written in batches (reads), a fact recorded once per
delivery (opens, clicks), or a rollup that can be recomputed from the rest at any time
(audience days, engagement): nothing here is the only record of anything but opens and clicks.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, one_of, utcnow

ENGAGEMENT_LEVELS = ("low", "medium", "high")
MEASURES = ("tier", "status", "signups", "churn", "conversions", "mrr")


class IssueLink(Base):
    """A link of an issue's email, numbered once per issue.

    A tracked link is ``/c/<token>/<position>``: the redirect goes to ``url`` as stored here,
    never to anything the clicked URL says, so it can never be an open redirect.
    """

    __tablename__ = "issue_links"

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1, 2, … in the email
    url: Mapped[str] = mapped_column(Text)


class EmailOpen(Base):
    """What became of one delivery's email: its pixel fetched by people (``opens``) or by
    machines that fetch images for them (Apple Mail Privacy Protection, scanners:
    ``machine_opens``), and its links clicked (``clicks``, all links; per link in
    ``LinkClick``). ``first_opened_at``: the first sign of a reader, a pixel or a click."""

    __tablename__ = "email_opens"
    __table_args__ = (Index("ix_email_opens_issue_id", "issue_id"),)

    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    opens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    machine_opens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    clicks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    first_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # by a person
    last_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LinkClick(Base):
    """Clicks on one tracked link of one delivery."""

    __tablename__ = "link_clicks"
    __table_args__ = (Index("ix_link_clicks_issue_id_position", "issue_id", "position"),)

    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    clicks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    first_clicked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_clicked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IssueReadDay(Base):
    """Views of an issue's web page on one day (UTC), cached pages included."""

    __tablename__ = "issue_read_days"

    issue_id: Mapped[int] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reads: Mapped[int] = mapped_column(BigInteger, default=0)


class AudienceDay(Base):
    """One figure of the audience on one day: ``measure`` (see MEASURES) split by ``key``.

    ``tier`` and ``status`` are members at the end of the day; ``signups`` (by source),
    ``churn`` (unsubscribed, cancelled), ``conversions`` (paid) count that day's events;
    ``mrr`` is monthly recurring revenue in the currency's smallest unit. A rollup: recomputed
    from members, consent records, tier changes and subscriptions whenever asked.
    """

    __tablename__ = "audience_days"
    __table_args__ = (one_of("measure", MEASURES),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    measure: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class TierChange(Base):
    """A member's tier changing (written by ``members.tiers``, the one place tiers change):
    what the audience charts read conversions, cancellations and past tiers from."""

    __tablename__ = "tier_changes"
    __table_args__ = (Index("ix_tier_changes_changed_at", "changed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    from_tier: Mapped[str] = mapped_column(String(16))
    to_tier: Mapped[str] = mapped_column(String(16))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MemberEngagement(Base):
    """A member's engagement score (1–100) and level, recomputed by maintenance (engagement.py).
    Only members with some activity have a row; a member without one scores 0: ``low``."""

    __tablename__ = "member_engagement"
    __table_args__ = (one_of("level", ENGAGEMENT_LEVELS),)

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(8))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InsightRun(Base):
    """When a maintenance computation last ran: a conditional UPDATE of this row lets one
    worker of many run it per interval."""

    __tablename__ = "insight_runs"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime())
