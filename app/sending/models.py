"""Sends and deliveries: the database record of who gets which issue, and what happened.

One ``Delivery`` row per (issue, member), unique, is the whole truth of a send: Redis only
says there is work. A delivery moves ``queued → claimed → sending → sent`` (or ``failed``,
``bounced``, ``skipped``), one message in ``sending`` per worker at a time, so a crash can
leave at most that one message in doubt (``uncertain``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, one_of, utcnow

SEND_STATES = ("scheduled", "sending", "paused", "cancelled", "done")
DELIVERY_STATES = (
    "queued",
    "claimed",
    "sending",
    "sent",
    "failed",
    "bounced",
    "uncertain",
    "skipped",
)
FINAL_STATES = ("sent", "failed", "bounced", "uncertain", "skipped")


class Send(Base):
    """An issue sent (or to be sent) to the members a segment expression matched."""

    __tablename__ = "sends"
    __table_args__ = (one_of("status", SEND_STATES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"), index=True)
    expression: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Why a send is paused (an editor, the circuit breaker, a stall) and, for the breaker,
    # when it tries the mail server again. Empty reason and no time: nothing to explain.
    paused_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    resume_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    connection_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The audience is members with ids up to ``audience_until`` (the highest when the send
    # started), written into deliveries up to ``audience_through`` so far (recipients.py).
    audience_until: Mapped[int | None] = mapped_column(Integer)
    audience_through: Mapped[int | None] = mapped_column(Integer)


class Delivery(Base):
    """One member's copy of one issue. The unique (issue, member) pair makes a second copy
    impossible, whatever sends, workers or retries there are."""

    __tablename__ = "deliveries"
    __table_args__ = (
        one_of("status", DELIVERY_STATES),
        UniqueConstraint("issue_id", "member_id", name="uq_deliveries_issue_id_member_id"),
        Index("ix_deliveries_send_id_status_id", "send_id", "status", "id"),
        # The issue report counts an issue's deliveries by status, and joins their bounces,
        # from this index alone (an index-only scan).
        Index("ix_deliveries_issue_id_status_id", "issue_id", "status", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    send_id: Mapped[int] = mapped_column(ForeignKey("sends.id", ondelete="CASCADE"))
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str] = mapped_column(Text, default="")
    # A temporary refusal (4xx) waits until then before the row may be claimed again.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when an ``uncertain`` row was queued once more; a second doubt is final.
    resent_after_doubt: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


BOUNCE_KINDS = ("hard", "soft", "complaint")


class Bounce(Base):
    """A bounce (RFC 3464 DSN, or a 5xx at send time) or a complaint (RFC 5965 ARF).

    ``report_id`` is the Message-ID of the report, unique, so a report delivered twice
    counts once.
    """

    __tablename__ = "bounces"
    __table_args__ = (one_of("kind", BOUNCE_KINDS),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[str] = mapped_column(String(16), default="")  # e.g. 5.1.1
    diagnostic: Mapped[str] = mapped_column(Text, default="")
    report_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
