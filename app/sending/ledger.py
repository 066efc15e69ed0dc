"""Recording each message's outcome, one commit per message, as cheaply as that can be.

Before a message goes on the wire its row moves ``claimed → sending`` and that is committed;
the ``sent`` of the message before rides in the same commit. So at any moment a worker has at
most one row in ``sending``: if it is killed, that one message is in doubt, never its batch.

On PostgreSQL these commits skip the wait for the disk flush (``synchronous_commit off``): a
killed *worker* loses nothing (the server has the commit), and only a crash of the database
server itself could forget the last fraction of a second of outcomes, whose rows then look
in flight and are resent at most once. See docs/sending.md.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, bindparam, exists, select, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.members.models import Member
from app.sending.models import Delivery, Send

MAX_ATTEMPTS = 5
BREAKER_FAILURES = 3  # consecutive unreachable-server failures that pause a send
MAX_BACKOFF = timedelta(minutes=10)


def takes_bulk_mail():
    """Members who may get bulk mail right now."""
    return and_(Member.status == "active", Member.email_issues.is_(True))


def reachable():
    """The row's member still takes bulk mail (checked at claim and just before sending)."""
    return exists(select(Member.id).where(Member.id == Delivery.member_id, takes_bulk_mail()))


def backoff(retry_seconds: float, failures: int) -> timedelta:
    """``retry_seconds`` doubled for each failure after the first, at most ten minutes."""
    return min(timedelta(seconds=retry_seconds * 2 ** max(failures - 1, 0)), MAX_BACKOFF)


_SENT = (
    update(Delivery)
    .where(Delivery.id == bindparam("sent_id"), Delivery.status == "sending")
    .values(
        status="sent", sent_at=bindparam("now"), message_id=bindparam("sent_message_id"), error=""
    )
)
_OURS = and_(
    Delivery.id == bindparam("begin_id"),
    Delivery.status == "claimed",
    Delivery.claimed_at == bindparam("stamp"),
)
_BEGIN = (
    update(Delivery).where(_OURS, reachable()).values(status="sending", claimed_at=bindparam("now"))
)
_SKIP = update(Delivery).where(_OURS).values(status="skipped", error="no longer receives bulk mail")
# PostgreSQL: the previous "sent" and the next "sending" in one statement, one round trip.
_SENT_AND_BEGIN = _BEGIN.add_cte(_SENT.cte("sent"))


class Steps:
    """A batch's per-message steps, written on one held connection (see ``Database.held``).

    On PostgreSQL each step is one autocommitted statement, committed without waiting for the
    disk flush (``synchronous_commit off``): a killed worker loses nothing the server has.
    """

    def __init__(self, connection: Connection, claimed_at: datetime):
        self.connection, self.claimed_at = connection, claimed_at
        self.postgres = connection.dialect.name == "postgresql"
        options = connection.get_execution_options()
        self.autocommit = options.get("isolation_level") == "AUTOCOMMIT"
        if self.autocommit:
            connection.exec_driver_sql("SET synchronous_commit TO OFF")

    def close(self) -> None:
        if self.autocommit:
            self.connection.exec_driver_sql("RESET synchronous_commit")

    def step(self, *, sent: tuple[int, str] | None, begin: int | None) -> bool:
        """Record ``sent`` (delivery id, Message-ID) and move ``begin`` to ``sending``.

        ``begin`` moves only while it is still this batch's claim (a claim the reconciler gave
        away carries another stamp) and its member still takes mail; otherwise False, and a
        row of ours whose member left is ``skipped``.
        """
        params = {
            "now": utcnow(),
            "sent_id": sent[0] if sent else None,
            "sent_message_id": sent[1] if sent else None,
            "begin_id": begin,
            "stamp": self.claimed_at,
        }
        with self._transaction():
            if begin is None:
                if sent is not None:
                    self.connection.execute(_SENT, params)
                return False
            if sent is not None and self.postgres:
                moved = self.connection.execute(_SENT_AND_BEGIN, params).rowcount
            else:
                if sent is not None:
                    self.connection.execute(_SENT, params)
                moved = self.connection.execute(_BEGIN, params).rowcount
            if not moved:
                self.connection.execute(_SKIP, params)
        return bool(moved)

    def send_status(self, send_id: int) -> str | None:
        with self._transaction():
            return self.connection.scalar(select(Send.status).where(Send.id == send_id))

    def _transaction(self):
        if self.autocommit:
            return nullcontext()
        if self.connection.in_transaction():
            return self.connection.begin_nested()  # tests: inside the rolled-back transaction
        return self.connection.begin()


def _in_flight(session: Session, delivery_id: int) -> Delivery | None:
    delivery = session.get(Delivery, delivery_id)
    return delivery if delivery is not None and delivery.status == "sending" else None


def refused(session: Session, delivery_id: int, error: str, *, bounced: bool) -> bool:
    """A permanent refusal (5xx): never tried again; ``bounced`` when it was about the
    mailbox itself. Returns whether the row was ours to record."""
    if not (delivery := _in_flight(session, delivery_id)):
        return False
    delivery.status, delivery.error = ("bounced" if bounced else "failed"), error[:1000]
    return True


def retry_later(session: Session, delivery_id: int, error: str, retry_seconds: float) -> None:
    """A temporary refusal (4xx): queued again after a backoff, failed after MAX_ATTEMPTS."""
    if not (delivery := _in_flight(session, delivery_id)):
        return
    delivery.error = error[:1000]
    if delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = "failed"
        return
    delivery.status = "queued"
    delivery.next_attempt_at = utcnow() + backoff(retry_seconds, delivery.attempts)


def in_doubt(session: Session, delivery_id: int, error: str, retry_seconds: float) -> bool:
    """The line broke after the whole message was handed over: it may have arrived.

    The row is queued once more (the policy allows one resend per row, RFC 1047); a second
    doubt is final (``uncertain``). Returns whether it will be resent.
    """
    if not (delivery := _in_flight(session, delivery_id)):
        return False
    delivery.error = error[:1000]
    if delivery.resent_after_doubt:
        delivery.status = "uncertain"
        return False
    delivery.status, delivery.resent_after_doubt = "queued", True
    delivery.next_attempt_at = utcnow() + backoff(retry_seconds, 1)
    return True


def release(session: Session, delivery_ids: list[int], claimed_at: datetime) -> None:
    """Give back rows of this claim that were never tried (their attempt does not count)."""
    if delivery_ids:
        session.execute(
            update(Delivery)
            .where(
                Delivery.id.in_(delivery_ids),
                Delivery.status == "claimed",
                Delivery.claimed_at == claimed_at,
            )
            .values(status="queued", attempts=Delivery.attempts - 1)
        )


def not_sent(session: Session, delivery_id: int) -> None:
    """The line died before this message was handed over: queued again, attempt uncounted."""
    if delivery := _in_flight(session, delivery_id):
        delivery.status, delivery.attempts = "queued", delivery.attempts - 1


def connection_failed(
    session: Session, send_id: int, error: str, retry_seconds: float
) -> timedelta | None:
    """Count an unreachable server against the send; the wait before the next try.

    After BREAKER_FAILURES in a row the send pauses itself (a circuit breaker, as listmonk's
    ``max_send_errors``) with the reason shown to the editor and a time the reconciler
    resumes it: None is returned and no job needs to wait in Redis.
    """
    send = session.get(Send, send_id)
    if send is None or send.status != "sending":
        return None
    send.connection_failures += 1
    wait = backoff(retry_seconds, send.connection_failures)
    if send.connection_failures < BREAKER_FAILURES:
        return wait
    send.status = "paused"
    send.resume_at = utcnow() + wait
    send.paused_reason = (
        f"The mail server could not be reached {send.connection_failures} times in a row "
        f"({error[:200]}). Kith tries again by itself at {send.resume_at:%H:%M} UTC."
    )
    return None


def connected(session: Session, send_id: int) -> None:
    """The mail server answered: the breaker's count starts again."""
    session.execute(
        update(Send)
        .where(Send.id == send_id, Send.connection_failures > 0)
        .values(connection_failures=0)
    )
