"""RQ entry points for sending issues: one job sends one claimed batch over one connection.

Each job queues the next one as soon as it has a connection, so any number of workers share
a send; claims in the database, not Redis, decide who sends what. A lost job costs nothing
but time: any later job of the same send claims what is still queued.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from flask import current_app

from app.db import transaction
from app.issues import service as issues
from app.issues.models import Issue
from app.members.models import Member
from app.queue import enqueue, job
from app.sending import mailer, service
from app.sending.messages import IssueEmail
from app.sending.models import Send
from app.sending.transport import DeliveryError

SEND_JOB = "app.sending.jobs.send_batch"
RETRY_AFTER = timedelta(seconds=30)
log = logging.getLogger(__name__)


def enqueue_send(send_id: int, *, at: datetime | None = None) -> None:
    enqueue(SEND_JOB, send_id, queue_name="send", at=at)


@job
def send_batch(send_id: int) -> int:
    """Claim a batch of ``send_id`` and send it; returns how many messages went out."""
    settings = current_app.extensions["kith.settings"]
    with transaction() as session:
        send = session.get(Send, send_id)
        if send is not None and send.status == "scheduled":
            service.begin_scheduled(session, send_id)
        if send is None or send.status != "sending":
            return 0
        claimed = service.claim_batch(session, send_id)
        if not claimed:
            service.finish_if_done(session, send_id)
            return 0
        issue = session.get(Issue, send.issue_id)
        publication = issues.publication(session).name or settings.publication_name
        email = IssueEmail.render(mailer.templates(), settings, issue, publication)
    return _send_claimed(settings, issue, email, claimed, send_id)


def _send_claimed(
    settings, issue: Issue, email: IssueEmail, claimed: list[tuple[int, int]], send_id: int
) -> int:
    sent, untried = 0, [delivery_id for delivery_id, _ in claimed]
    try:
        with mailer.transport().connect() as connection:
            # The next batch, for this worker or another, once this one could connect: a
            # server that is down gets one retry per job in flight, not a storm of jobs.
            enqueue_send(send_id)
            for delivery_id, member_id in claimed:
                untried.remove(delivery_id)
                with transaction() as session:
                    delivery = service.begin_delivery(session, delivery_id)
                    member = session.get(Member, member_id) if delivery else None
                    if delivery is not None and member is None:
                        service.record_failure(
                            session, delivery_id, "member deleted", permanent=True
                        )
                    if member is None:
                        continue
                    sender, message = email.message_for(settings, issue, member, delivery_id)
                try:
                    connection.send(sender, [member.email], mailer.signed(message.as_bytes()))
                except DeliveryError as error:
                    broken = error.code is None  # the line broke mid-message: it may have arrived
                    with transaction() as session:
                        if broken:
                            service.record_uncertain(session, delivery_id, str(error))
                        else:
                            service.record_failure(
                                session, delivery_id, str(error), permanent=error.permanent
                            )
                    if broken:
                        raise
                    continue
                with transaction() as session:
                    service.record_sent(session, delivery_id, message["Message-ID"])
                sent += 1
    except DeliveryError as error:
        log.warning(
            "send %s: SMTP connection failed (%s); retrying in %s", send_id, error, RETRY_AFTER
        )
        with transaction() as session:
            service.release(session, untried)
        enqueue_send(send_id, at=datetime.now(UTC) + RETRY_AFTER)
    return sent


@job
def reconcile() -> int:
    """Run the database-side repair and re-enqueue every unfinished send."""
    with transaction() as session:
        send_ids = service.reconcile(session)
    for send_id in send_ids:
        enqueue_send(send_id)
    return len(send_ids)


@job
def send_test(issue_id: int, member_id: int) -> bool:
    """The issue as recipients will get it, to one editor, marked as a test, recorded nowhere."""
    settings = current_app.extensions["kith.settings"]
    with transaction() as session:
        issue, member = session.get(Issue, issue_id), session.get(Member, member_id)
        if issue is None or member is None:
            return False
        publication = issues.publication(session).name or settings.publication_name
        email = IssueEmail.render(mailer.templates(), settings, issue, publication)
        sender, message = email.message_for(settings, issue, member, 0)
    message.replace_header("Subject", f"[Test] {message['Subject']}")
    with mailer.transport().connect() as connection:
        connection.send(sender, [member.email], mailer.signed(message.as_bytes()))
    return True
