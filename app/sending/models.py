"""Sends and deliveries: the database record of who gets which issue, and what happened.

One ``Delivery`` row per (issue, member), unique, is the whole truth of a send: Redis only
says there is work. A delivery moves ``queued → claimed → sending → sent`` (or ``failed``,
``bounced``, ``skipped``), one message in ``sending`` per worker at a time, so a crash can
leave at most that one message in doubt (``uncertain``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
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


class Delivery(Base):
    """One member's copy of one issue. The unique (issue, member) pair makes a second copy
    impossible, whatever sends, workers or retries there are."""

    __tablename__ = "deliveries"
    __table_args__ = (
        one_of("status", DELIVERY_STATES),
        UniqueConstraint("issue_id", "member_id", name="uq_deliveries_issue_id_member_id"),
        Index("ix_deliveries_send_id_status_id", "send_id", "status", "id"),
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
