"""The rules of sending an issue: who gets it, claiming work, and recording every outcome.

Recipients are materialized into delivery rows by one INSERT … SELECT. Workers claim batches
with a conditional UPDATE (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), move one row at a time
to ``sending`` just before handing it to SMTP and to ``sent`` right after, each step
committed: a killed worker leaves at most one message in doubt. A member who unsubscribes
before their row is claimed is never mailed; the row ends ``skipped``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, noload

from app import webhooks
from app.db import one_of_values, utcnow
from app.issues import service as issues
from app.issues.models import Issue
from app.members import segments
from app.members.models import Member
from app.sending import control, ledger, recipients
from app.sending.models import FINAL_STATES, Delivery, Send
from app.webhooks import payloads

BATCH_SIZE = 250
log = logging.getLogger(__name__)


class SendError(ValueError):
    """A send that cannot start, with a message for the editor."""


def start_send(
    session: Session, issue: Issue, expression: str, *, at: datetime | None = None
) -> Send:
    """Record a send and its first recipients; the caller enqueues work after the commit
    (``jobs.enqueue_send``: the rest of the audience, and the sending).

    Raises SegmentError for a bad expression.
    """
    expected = count_recipients(session, issue, expression)  # a bad expression raises here
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
    recipients.begin(session, send, expected)
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


@dataclass(frozen=True)
class Claim:
    """A batch one worker owns: rows are ``(delivery id, member id)``; ``claimed_at`` is the
    stamp that proves ownership (the reconciler gives stale claims away with a new one)."""

    claimed_at: datetime
    rows: list[tuple[int, int]]


def claim_batch(session: Session, send_id: int, size: int = BATCH_SIZE) -> Claim:
    """Claim up to ``size`` queued deliveries, due for a try, of members who take bulk mail."""
    now = utcnow()
    candidates = (
        select(Delivery.id)
        .where(
            Delivery.send_id == send_id,
            Delivery.status == "queued",
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
            ledger.reachable(),
        )
        .order_by(Delivery.id)
        .limit(size)
    )
    if session.connection().dialect.name == "postgresql":
        # Materialized: evaluated once. Inlined, a planner that has not yet seen the rows
        # just written may run it again for every row (a second and a half for 1,000).
        batch = (
            candidates.with_for_update(skip_locked=True)
            .cte("batch")
            .prefix_with("MATERIALIZED", dialect="postgresql")
        )
        candidates = select(batch.c.id)
    claimed = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(candidates.scalar_subquery()), Delivery.status == "queued")
        .values(status="claimed", claimed_at=now, attempts=Delivery.attempts + 1)
        .returning(Delivery.id, Delivery.member_id)
    ).all()
    return Claim(now, sorted((row[0], row[1]) for row in claimed))


def batch_members(session: Session, member_ids: list[int]) -> dict[int, Member]:
    """The members of a claimed batch, in one query (their tags are not needed to send)."""
    members = session.scalars(
        select(Member).where(one_of_values(session, Member.id, member_ids)).options(noload("*"))
    )
    return {member.id: member for member in members}


def next_due(session: Session, send_id: int) -> datetime | None:
    """When the earliest row now waiting out a backoff may be tried."""
    return session.scalar(
        select(func.min(Delivery.next_attempt_at)).where(
            Delivery.send_id == send_id, Delivery.status == "queued"
        )
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


def finish_if_done(session: Session, send_id: int) -> bool:
    """Skip rows of members no longer reachable; mark the send done when nothing is left."""
    send = session.get(Send, send_id)
    if send is None or not recipients.is_complete(send):
        return False
    unreachable = select(Member.id).where(~ledger.takes_bulk_mail())
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
    finished = session.execute(
        update(Send)
        .where(Send.id == send_id, Send.status == "sending")
        .values(status="done", finished_at=utcnow())
    ).rowcount
    if finished:  # once, whichever job got here first
        webhooks.emit(session, "issue.sent", lambda: payloads.issue_sent(session, send_id))
    return True


LEASE = timedelta(minutes=5)
# A send with no activity for this long is not resumed by itself: news may have gone stale.
RESUME_MAX_AGE = timedelta(hours=24)


def reconcile(session: Session, *, lease: timedelta = LEASE) -> list[int]:
    """Repair what crashed workers and a lost Redis left behind; the sends to enqueue again.

    A batch claimed longer than ``lease`` ago by a worker that died was never tried: back to
    ``queued``. A message left ``sending`` was on the wire when its worker died and may have
    arrived: it is queued once more (one resend per row, logged), a second time
    ``uncertain``. Due scheduled sends start; sends the circuit breaker paused resume at their
    time; a send idle for RESUME_MAX_AGE pauses for the editor to review. Every send still in
    progress is returned, so its jobs exist again even if Redis was flushed (claims make a
    surplus job harmless).
    """
    now = utcnow()
    stale = now - lease
    session.execute(
        update(Delivery)
        .where(Delivery.status == "claimed", Delivery.claimed_at < stale)
        .values(status="queued", attempts=Delivery.attempts - 1)
    )
    orphaned = and_(Delivery.status == "sending", Delivery.claimed_at < stale)
    resent = session.execute(
        update(Delivery)
        .where(orphaned, Delivery.resent_after_doubt.is_(False))
        .values(
            status="queued",
            resent_after_doubt=True,
            next_attempt_at=None,
            error="its worker stopped while this message was being sent; sent once more",
        )
    ).rowcount
    if resent:
        log.warning("resending %d message(s) whose worker stopped mid-send (RFC 1047)", resent)
    session.execute(
        update(Delivery)
        .where(orphaned)
        .values(status="uncertain", error="its worker stopped twice while sending this message")
    )
    session.execute(
        update(Send)
        .where(Send.status == "scheduled", Send.scheduled_at <= now)
        .values(status="sending", started_at=now)
    )
    session.execute(
        update(Send)
        .where(Send.status == "paused", Send.resume_at <= now)
        .values(status="sending", resume_at=None, paused_reason="")
    )
    _pause_stalled(session, now)
    control.sweep_cancelled(session)
    return list(
        session.scalars(
            select(Send.id)
            .where(or_(Send.status == "sending", Send.audience_through < Send.audience_until))
            .where(Send.status != "cancelled")
            .order_by(Send.id)
        )
    )


def _pause_stalled(session: Session, now: datetime) -> None:
    cutoff = now - RESUME_MAX_AGE
    last_activity = (
        select(func.max(func.coalesce(Delivery.sent_at, Delivery.claimed_at)))
        .where(Delivery.send_id == Send.id)
        .scalar_subquery()
    )
    session.execute(
        update(Send)
        .where(
            Send.status == "sending",
            Send.started_at < cutoff,
            func.coalesce(last_activity, Send.started_at) < cutoff,
        )
        .values(
            status="paused",
            paused_reason="Nothing was sent for over a day (were the workers down?). "
            "Check the issue is still timely, then resume or cancel.",
        ),
        execution_options={"synchronize_session": False},
    )
