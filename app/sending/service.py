"""The rules of sending an issue: who gets it, claiming work, and recording every outcome.

Recipients are materialized into delivery rows by one INSERT … SELECT. Workers claim batches
with a conditional UPDATE (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), move one row at a time
to ``sending`` just before handing it to SMTP and to ``sent`` right after, each step
committed: a killed worker leaves at most one message in doubt. A member who unsubscribes
before their row is claimed is never mailed; the row ends ``skipped``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, insert, literal, select, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.issues import service as issues
from app.issues.models import Issue
from app.members import segments
from app.members.models import Member
from app.sending.models import FINAL_STATES, Delivery, Send

BATCH_SIZE = 250
MAX_ATTEMPTS = 5


class SendError(ValueError):
    """A send that cannot start, with a message for the editor."""


def _reachable():
    """Members who may get bulk mail right now (re-checked at every claim)."""
    return and_(Member.status == "active", Member.email_issues.is_(True))


def start_send(
    session: Session, issue: Issue, expression: str, *, at: datetime | None = None
) -> Send:
    """Record a send and its recipients; the caller enqueues work after the commit.

    Members who already have a delivery of this issue are left out: nobody gets an issue
    twice, even from two sends. Raises SegmentError for a bad expression.
    """
    condition = segments.recipients_condition(expression)
    now = utcnow()
    send = Send(
        issue_id=issue.id,
        expression=expression.strip(),
        status="scheduled" if at is not None and at > now else "sending",
        scheduled_at=at or now,
        recipients=0,
    )
    session.add(send)
    session.flush()
    already = exists(
        select(Delivery.id).where(Delivery.issue_id == issue.id, Delivery.member_id == Member.id)
    )
    recipients = select(
        literal(send.id), literal(issue.id), Member.id, literal("queued"), literal(0), literal("")
    ).where(condition, ~already)
    columns = ["send_id", "issue_id", "member_id", "status", "attempts", "error"]
    session.execute(insert(Delivery).from_select(columns, recipients))
    send.recipients = session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.send_id == send.id)
    )
    if send.status == "sending":
        send.started_at = now
    if not issue.email_only and not issue.is_published:
        issues.publish(session, issue)
    session.flush()
    return send


def count_recipients(session: Session, issue: Issue, expression: str) -> int:
    """Who a send would reach now: the expression's recipients without a copy already."""
    already = exists(
        select(Delivery.id).where(Delivery.issue_id == issue.id, Delivery.member_id == Member.id)
    )
    condition = and_(segments.recipients_condition(expression), ~already)
    return session.scalar(select(func.count()).select_from(Member).where(condition)) or 0


def claim_batch(session: Session, send_id: int, size: int = BATCH_SIZE) -> list[tuple[int, int]]:
    """Claim up to ``size`` queued deliveries of reachable members: (delivery id, member id)."""
    candidates = (
        select(Delivery.id)
        .join(Member, Member.id == Delivery.member_id)
        .where(Delivery.send_id == send_id, Delivery.status == "queued", _reachable())
        .order_by(Delivery.id)
        .limit(size)
    )
    if session.connection().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True, of=Delivery)
    claimed = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(candidates.scalar_subquery()), Delivery.status == "queued")
        .values(status="claimed", claimed_at=utcnow(), attempts=Delivery.attempts + 1)
        .returning(Delivery.id, Delivery.member_id)
    ).all()
    return sorted((row[0], row[1]) for row in claimed)


def begin_delivery(session: Session, delivery_id: int) -> Delivery | None:
    """Move one claimed row to ``sending``; None if it is no longer ours to send."""
    moved = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == "claimed")
        .values(status="sending", claimed_at=utcnow())
    ).rowcount
    return session.get(Delivery, delivery_id) if moved else None


def record_sent(session: Session, delivery_id: int, message_id: str) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == "sending")
        .values(status="sent", sent_at=utcnow(), message_id=message_id, error="")
    )


def record_failure(session: Session, delivery_id: int, error: str, *, permanent: bool) -> None:
    """A refused message: permanent refusals and exhausted retries end ``failed``."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None or delivery.status not in ("sending", "claimed"):
        return
    delivery.error = error[:1000]
    delivery.status = "failed" if permanent or delivery.attempts >= MAX_ATTEMPTS else "queued"


def record_uncertain(session: Session, delivery_id: int, error: str) -> None:
    """The connection broke while this message was in flight: it may have been accepted.

    Never resent automatically with its batch (RFC 1047's duplicate window); see CONTEXT.md.
    """
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == "sending")
        .values(status="uncertain", error=error[:1000])
    )


def begin_scheduled(session: Session, send_id: int) -> bool:
    """Start a scheduled send whose time has come (exactly once, whoever asks)."""
    return bool(
        session.execute(
            update(Send)
            .where(Send.id == send_id, Send.status == "scheduled", Send.scheduled_at <= utcnow())
            .values(status="sending", started_at=utcnow())
        ).rowcount
    )


def release(session: Session, delivery_ids: list[int]) -> None:
    """Give claimed rows back (the connection failed before they were tried)."""
    if delivery_ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(delivery_ids), Delivery.status == "claimed")
            .values(status="queued", attempts=Delivery.attempts - 1)
        )


def finish_if_done(session: Session, send_id: int) -> bool:
    """Skip rows of members no longer reachable; mark the send done when nothing is left."""
    unreachable = select(Member.id).where(~_reachable())
    session.execute(
        update(Delivery)
        .where(
            Delivery.send_id == send_id,
            Delivery.status == "queued",
            Delivery.member_id.in_(unreachable),
        )
        .values(status="skipped", error="no longer receives bulk mail")
    )
    session.execute(
        update(Delivery)
        .where(
            Delivery.send_id == send_id, Delivery.status == "queued", Delivery.member_id.is_(None)
        )
        .values(status="skipped", error="member deleted")
    )
    open_rows = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.send_id == send_id, Delivery.status.not_in(FINAL_STATES))
    )
    if open_rows:
        return False
    session.execute(
        update(Send)
        .where(Send.id == send_id, Send.status == "sending")
        .values(status="done", finished_at=utcnow())
    )
    return True


LEASE = timedelta(minutes=5)


def reconcile(session: Session, *, lease: timedelta = LEASE) -> list[int]:
    """Repair what crashed workers and a lost Redis left behind; the sends to enqueue again.

    A batch claimed longer than ``lease`` ago by a worker that died was never tried: back to
    ``queued``. A message left ``sending`` was on the wire when its worker died and may have
    arrived: ``uncertain``, never resent on its own. Scheduled sends whose time has come
    start. Every send still in progress is returned, so its jobs exist again even if Redis
    was flushed (claims make a surplus job harmless).
    """
    stale = utcnow() - lease
    session.execute(
        update(Delivery)
        .where(Delivery.status == "claimed", Delivery.claimed_at < stale)
        .values(status="queued", attempts=Delivery.attempts - 1)
    )
    session.execute(
        update(Delivery)
        .where(Delivery.status == "sending", Delivery.claimed_at < stale)
        .values(status="uncertain", error="the worker stopped while this message was being sent")
    )
    session.execute(
        update(Send)
        .where(Send.status == "scheduled", Send.scheduled_at <= utcnow())
        .values(status="sending", started_at=utcnow())
    )
    return list(session.scalars(select(Send.id).where(Send.status == "sending").order_by(Send.id)))


@dataclass(frozen=True)
class Progress:
    send: Send
    counts: Counter

    @property
    def pending(self) -> int:
        return sum(self.counts[state] for state in ("queued", "claimed", "sending"))


def progress(session: Session, issue: Issue) -> list[Progress]:
    """Each send of ``issue`` with its deliveries counted by state."""
    sends = session.scalars(select(Send).where(Send.issue_id == issue.id).order_by(Send.id)).all()
    result = []
    for send in sends:
        rows = session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.send_id == send.id)
            .group_by(Delivery.status)
        ).all()
        result.append(Progress(send, Counter(dict(rows))))
    return result
