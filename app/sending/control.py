"""The editor's hand on a send: pause, resume, cancel, reschedule, and how far it has got.

Every change is one conditional UPDATE on the send's status, so two editors, a command and
the workers can act at once: whoever moves the row first wins, the others change nothing and
are told so (each function returns whether it changed anything). Workers only work a send
whose status is ``sending``, so a paused or cancelled send stops at its next batch; rows a
worker already claimed finish as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.issues.models import Issue
from app.sending.models import Delivery, Send

PENDING_STATES = ("queued", "claimed", "sending")
RATE_WINDOW = timedelta(seconds=60)
CANCELLED_ERROR = "send cancelled"
STATUS_LABELS = {
    "scheduled": "Scheduled",
    "sending": "Sending",
    "paused": "Paused",
    "cancelled": "Cancelled",
    "done": "Done",
}
# What an editor may do in each state; the UI shows these buttons and nothing else.
ACTIONS = {
    "scheduled": ("reschedule", "cancel"),
    "sending": ("pause", "cancel"),
    "paused": ("resume", "cancel"),
    "cancelled": (),
    "done": (),
}


def _held_by_breaker():
    """Paused by the circuit breaker, which resumes it at ``resume_at`` unless held."""
    return and_(Send.status == "paused", Send.resume_at.is_not(None))


def pause(session: Session, send_id: int, by: str) -> bool:
    """Stop a send after the batch in flight; ``by`` names who, for the editor to read.

    A send the circuit breaker paused is held too: its automatic retry is dropped, so it
    waits for an editor's resume.
    """
    moved = session.execute(
        update(Send)
        .where(Send.id == send_id, or_(Send.status == "sending", _held_by_breaker()))
        .values(status="paused", paused_reason=f"Paused by {by}", resume_at=None)
    ).rowcount
    return bool(moved)


def resume(session: Session, send_id: int) -> bool:
    """Paused → sending, with the breaker's state cleared; the caller enqueues after commit."""
    moved = session.execute(
        update(Send)
        .where(Send.id == send_id, Send.status == "paused")
        .values(status="sending", paused_reason="", resume_at=None, connection_failures=0)
    ).rowcount
    return bool(moved)


def cancel(session: Session, send_id: int) -> bool:
    """End a send for good: every row still queued ends ``skipped``.

    Rows a worker already claimed (or has on the wire) finish as they are: taking them back
    could lose the record of a message that went out. Cancelling again sweeps rows a worker
    gave back to the queue after the first cancel.
    """
    moved = session.execute(
        update(Send)
        .where(Send.id == send_id, Send.status.in_(("scheduled", "sending", "paused")))
        .values(status="cancelled", finished_at=utcnow(), resume_at=None)
    ).rowcount
    return bool(sweep_cancelled(session, send_id) or moved)


def sweep_cancelled(session: Session, send_id: int | None = None) -> int:
    """Skip queued rows of cancelled sends (``send_id``'s, or all): rows a worker gave back
    after the cancel (a failed connection, a stale claim) must not wait there for ever."""
    cancelled = select(Send.id).where(Send.status == "cancelled")
    if send_id is not None:
        cancelled = cancelled.where(Send.id == send_id)
    return session.execute(
        update(Delivery)
        .where(Delivery.status == "queued", Delivery.send_id.in_(cancelled))
        .values(status="skipped", error=CANCELLED_ERROR),
        execution_options={"synchronize_session": False},
    ).rowcount


def reschedule(session: Session, send_id: int, at: datetime) -> bool:
    """Move a send that has not started to ``at``; the caller enqueues for that time.

    A job queued for the old time finds the send not yet due and leaves it scheduled.
    """
    moved = session.execute(
        update(Send).where(Send.id == send_id, Send.status == "scheduled").values(scheduled_at=at)
    ).rowcount
    return bool(moved)


def already_done(send: Send, action: str) -> bool:
    """Whether ``action`` changed nothing because the send is already where it would lead."""
    return send.status == {"pause": "paused", "resume": "sending", "cancel": "cancelled"}.get(
        action
    )


def unchanged_reason(send: Send, action: str) -> str:
    """Why ``action`` changed nothing, in the editor's words."""
    label = STATUS_LABELS[send.status].lower()
    if already_done(send, action):
        return f"Send #{send.id} is already {label}."
    past = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}.get(action, "moved")
    return f"Send #{send.id} is {label}: it cannot be {past} now."


@dataclass(frozen=True)
class SendProgress:
    """How far one send has got, counted in the database at one moment."""

    send_id: int
    issue_id: int
    expression: str
    status: str
    scheduled_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    paused_reason: str
    resume_at: datetime | None
    pending: int
    sent: int
    failed: int
    bounced: int
    skipped: int
    uncertain: int
    rate: float  # messages accepted per second over the last minute
    seconds_left: float | None  # None while unknown: not sending, or nothing sent lately

    @property
    def total(self) -> int:
        return self.pending + self.sent + self.failed + self.bounced + self.skipped + self.uncertain

    @property
    def percent(self) -> int:
        """The share of rows with an outcome (sent, failed, …), not only those sent."""
        if not self.total:
            return 100
        return (self.total - self.pending) * 100 // self.total

    @property
    def actions(self) -> tuple[str, ...]:
        if self.status == "paused" and self.resume_at is not None:
            return ("resume", "pause", "cancel")  # "pause" holds it past the breaker's retry
        return ACTIONS[self.status]

    @property
    def live(self) -> bool:
        """Whether the numbers may still change without an editor doing anything."""
        return self.status in ("scheduled", "sending") or (
            self.status == "paused" and self.resume_at is not None
        )

    def display(self) -> dict[str, str]:
        """Every figure as the editor reads it: the page, the JSON and the CLI say the same."""
        return {
            "status": STATUS_LABELS[self.status],
            "summary": f"Sent {self.sent} of {self.total}",
            "percent": f"{self.percent}%",
            "pending": str(self.pending),
            "sent": str(self.sent),
            "failed": str(self.failed),
            "bounced": str(self.bounced),
            "skipped": str(self.skipped),
            "uncertain": str(self.uncertain),
            "rate": rate_text(self.rate),
            "time_left": duration_text(self.seconds_left),
            "scheduled_at": moment_text(self.scheduled_at) if self.status == "scheduled" else "",
            "started_at": moment_text(self.started_at),
            "finished_at": moment_text(self.finished_at),
            "paused_reason": self.paused_reason,
            "resume_at": moment_text(self.resume_at) if self.status == "paused" else "",
        }

    def as_json(self) -> dict[str, Any]:
        moments = ("scheduled_at", "started_at", "finished_at", "resume_at")
        return {
            "id": self.send_id,
            "issue_id": self.issue_id,
            "expression": self.expression,
            "status": self.status,
            "counts": {
                "pending": self.pending,
                "sent": self.sent,
                "failed": self.failed,
                "bounced": self.bounced,
                "skipped": self.skipped,
                "uncertain": self.uncertain,
            },
            "total": self.total,
            "percent": self.percent,
            "rate": round(self.rate, 2),
            "seconds_left": None if self.seconds_left is None else round(self.seconds_left),
            **{name: _iso(getattr(self, name)) for name in moments},
            "paused_reason": self.paused_reason,
            "actions": list(self.actions),
            "live": self.live,
            "display": self.display(),
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def moment_text(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def rate_text(rate: float) -> str:
    if not rate:
        return "none in the last minute"
    return f"{rate:.0f} messages/s" if rate >= 10 else f"{rate:.1f} messages/s"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if not seconds:
        return "none"
    if seconds < 60:
        return "less than a minute"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"about {minutes} minute{'s' if minutes != 1 else ''}"
    return f"about {round(minutes / 60)} hours"


def snapshot(session: Session, send: Send, *, now: datetime | None = None) -> SendProgress:
    """Count ``send``'s deliveries by state (one GROUP BY) and its recent rate (one query).

    The rate is the messages accepted over the last minute, divided by the time since the
    first of them (at least a second), so a send that started ten seconds ago is not shown
    six times slower than it is, and one that stalled slows down in the figure too.
    """
    now = now or utcnow()
    counts = dict(
        session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.send_id == send.id)
            .group_by(Delivery.status)
        ).all()
    )
    recent, first = session.execute(
        select(func.count(), func.min(Delivery.sent_at)).where(
            Delivery.send_id == send.id, Delivery.sent_at >= now - RATE_WINDOW
        )
    ).one()
    rate = recent / max((now - first).total_seconds(), 1.0) if recent else 0.0
    pending = sum(counts.get(state, 0) for state in PENDING_STATES)
    moving = send.status == "sending" and rate > 0
    return SendProgress(
        send_id=send.id,
        issue_id=send.issue_id,
        expression=send.expression,
        status=send.status,
        scheduled_at=send.scheduled_at,
        started_at=send.started_at,
        finished_at=send.finished_at,
        paused_reason=send.paused_reason or "",
        resume_at=send.resume_at,
        pending=pending,
        sent=counts.get("sent", 0),
        failed=counts.get("failed", 0),
        bounced=counts.get("bounced", 0),
        skipped=counts.get("skipped", 0),
        uncertain=counts.get("uncertain", 0),
        rate=rate,
        seconds_left=pending / rate if moving else (0.0 if not pending else None),
    )


def snapshots(session: Session, issue: Issue) -> list[SendProgress]:
    """Every send of ``issue``, oldest first."""
    sends = session.scalars(select(Send).where(Send.issue_id == issue.id).order_by(Send.id))
    return [snapshot(session, send) for send in sends.all()]
