"""RQ entry points for sending issues: one job sends one claimed batch over one connection.

Each job queues the next one as soon as it has a connection, so any number of workers share
a send; claims in the database, not Redis, decide who sends what. A lost job costs nothing
but time: any later job of the same send claims what is still queued.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from flask import current_app

from app.db import database, transaction
from app.insights import tracking
from app.issues import service as issues
from app.issues.models import Issue
from app.members.models import Member
from app.queue import enqueue, job
from app.sending import bounces, control, ledger, mailer, pacing, recipients, service
from app.sending.messages import IssueEmail
from app.sending.models import Send
from app.sending.transport import DeliveryError

SEND_JOB = "app.sending.jobs.send_batch"
AUDIENCE_JOB = "app.sending.jobs.write_audience"
STATUS_CHECK_SECONDS = 1.0
log = logging.getLogger(__name__)


def enqueue_send(send_id: int, *, at: datetime | None = None) -> None:
    """Start (or restart) a send: the rest of its audience now, its batches now or at ``at``.

    Safe to repeat: both jobs pick up from the database where things stand.
    """
    with transaction() as session:
        send = session.get(Send, send_id)
        incomplete = send is not None and not recipients.is_complete(send)
    if incomplete:
        enqueue(AUDIENCE_JOB, send_id, queue_name="send", job_id=f"send-{send_id}-audience")
    _enqueue_batch(send_id, at=at)


def _enqueue_batch(send_id: int, *, at: datetime | None = None) -> None:
    enqueue(SEND_JOB, send_id, queue_name="send", at=at)


@job
def write_audience(send_id: int) -> bool:
    """Write the rest of a send's recipients, chunk by chunk; False if there was nothing to do."""
    with transaction() as session:
        recipients.refresh_statistics(session)
    first = True
    while True:
        with transaction(immediate=True) as session:
            send = session.get(Send, send_id)
            if send is None or send.status in ("cancelled", "done"):
                return False
            complete = recipients.add_chunk(session, send)
        if first or complete:
            _enqueue_batch(send_id)  # the new rows find a worker at once
        first = False
        if complete:
            return True


@job
def send_batch(send_id: int) -> int:
    """Claim a batch of ``send_id`` and send it; returns how many messages went out."""
    settings = current_app.extensions["kith.settings"]
    with transaction(immediate=True) as session:
        send = session.get(Send, send_id)
        if send is not None and send.status == "scheduled":
            service.begin_scheduled(session, send_id)
        if send is None or send.status != "sending":
            return 0
        claim = service.claim_batch(session, send_id)
        if not claim.rows:
            if not service.finish_if_done(session, send_id):
                _wake_when_due(session, send_id)
            return 0
        members = service.batch_members(session, [member_id for _, member_id in claim.rows])
        issue = session.get(Issue, send.issue_id)
        email = _issue_email(session, settings, issue)
        breaker_count = send.connection_failures
    batch = _Batch(settings, send_id, claim, members, email)
    return batch.send(breaker_count)


def _wake_when_due(session, send_id: int) -> None:
    """Rows waiting out a backoff: one delayed job (fixed id) for when the first is due."""
    due = service.next_due(session, send_id)
    if due is not None:
        enqueue(SEND_JOB, send_id, queue_name="send", at=due, job_id=f"send-{send_id}-due")


_prepared: dict[tuple, IssueEmail] = {}


def _issue_email(session, settings, issue: Issue) -> IssueEmail:
    """The issue's prepared email, rendered once per worker while the issue is unchanged."""
    publication = issues.publication(session)
    key = (issue.id, issue.updated_at, publication.name, publication.count_opens_clicks)
    if key not in _prepared:
        _prepared.clear()  # one issue at a time is the common case; never grow
        _prepared[key] = _render(session, settings, issue)
    return _prepared[key]


def _render(session, settings, issue: Issue, *, subject_prefix: str = "") -> IssueEmail:
    """The issue's email as the publication's settings make it (with counting, if on)."""
    publication = issues.publication(session)
    return IssueEmail.render(
        mailer.templates(),
        settings,
        issue,
        publication.name or settings.publication_name,
        subject_prefix=subject_prefix,
        link_positions=(lambda urls: tracking.number_links(session, issue.id, urls))
        if publication.count_opens_clicks
        else None,
    )


class _Batch:
    """One claimed batch sent over one connection, each outcome recorded as it happens."""

    def __init__(self, settings, send_id: int, claim, members, email: IssueEmail):
        self.settings, self.send_id, self.claim = settings, send_id, claim
        self.members, self.email = members, email
        self.untried = [delivery_id for delivery_id, _ in claim.rows]
        self.sent = 0
        self.deadline = time.monotonic() + settings.send_lease_seconds / 2
        self.next_status_check = time.monotonic() + STATUS_CHECK_SECONDS

    def send(self, breaker_count: int) -> int:
        transport = mailer.transport()
        try:
            with transport.connect() as connection:
                # The next batch, for this worker or another, once this one could connect: a
                # server that is down gets one retry per job in flight, not a storm of jobs.
                _enqueue_batch(self.send_id)
                self._send_all(connection, pacing.for_transport(transport))
        except DeliveryError as error:
            self._connection_failed(error)
        else:
            if breaker_count and self.sent:
                self._connected()
        return self.sent

    def _connected(self) -> None:
        """The breaker's count starts again only once a message went out: a server that
        takes the connection but no message (or a full outbox disk) must still trip it."""
        with transaction(immediate=True) as session:
            ledger.connected(session, self.send_id)

    def _send_all(self, connection, pacer) -> None:
        settings, signer, done = self.settings, mailer.bulk_signer(), None
        with database().held() as held:
            steps = ledger.Steps(held, self.claim.claimed_at)
            try:
                for delivery_id, member_id in self.claim.rows:
                    if time.monotonic() > self.deadline:
                        break  # the lease would run out: the rest go back (below) to anyone
                    if not self._still_sending(steps):
                        break  # paused or cancelled by an editor: the rest go back
                    member = self.members.get(member_id)
                    if member is None:
                        continue  # deleted since the claim: released below, then skipped
                    self.untried.remove(delivery_id)
                    message = self.email.personalize(settings, member, delivery_id, signer)
                    pacer.wait()
                    began = False
                    try:
                        # The server reads MAIL/RCPT/DATA while the database records the
                        # message as on its way; only then does the message itself go.
                        connection.begin(message.sender, member.email)
                        began, done = steps.step(sent=done, begin=delivery_id), None
                        connection.ready()
                        if not began:
                            connection.abandon()  # the member left meanwhile: nothing goes
                            break  # the rest go back; the next job has a fresh connection
                        connection.finish(message.data)
                    except DeliveryError as error:
                        if began:
                            self._refused(delivery_id, member_id, error)
                        if error.connection_lost or error.code == 421:
                            raise
                        continue
                    done, self.sent = (delivery_id, message.message_id), self.sent + 1
            finally:
                steps.step(sent=done, begin=None)
                steps.close()
        with transaction(immediate=True) as session:
            ledger.release(session, self.untried, self.claim.claimed_at)
            control.sweep_cancelled(session, self.send_id)

    def _still_sending(self, steps: ledger.Steps) -> bool:
        """Asked once a second, so pause and cancel take effect within the batch."""
        if time.monotonic() < self.next_status_check:
            return True
        self.next_status_check = time.monotonic() + STATUS_CHECK_SECONDS
        status = steps.send_status(self.send_id)
        return status == "sending"

    def _refused(self, delivery_id: int, member_id: int, error: DeliveryError) -> None:
        retry = self.settings.send_retry_seconds
        with transaction(immediate=True) as session:
            if error.in_doubt:
                ledger.in_doubt(session, delivery_id, str(error), retry)
            elif error.connection_lost:
                ledger.not_sent(session, delivery_id)
            elif error.permanent:
                kind = bounces.classify(error.enhanced, error.code)
                if ledger.refused(session, delivery_id, str(error), bounced=kind == "hard"):
                    bounces.record_bounce(
                        session,
                        member_id=member_id,
                        delivery_id=delivery_id,
                        kind=kind,
                        status_code=error.enhanced,
                        diagnostic=str(error),
                    )
            else:
                ledger.retry_later(session, delivery_id, str(error), retry)

    def _connection_failed(self, error: DeliveryError) -> None:
        log.warning("send %s: SMTP connection failed (%s)", self.send_id, error)
        with transaction(immediate=True) as session:
            if self.sent:
                ledger.connected(session, self.send_id)  # this one is the first failure
            ledger.release(session, self.untried, self.claim.claimed_at)
            wait = ledger.connection_failed(
                session, self.send_id, str(error), self.settings.send_retry_seconds
            )
        if wait is not None:
            _enqueue_batch(self.send_id, at=datetime.now(UTC) + wait)


@job
def reconcile() -> int:
    """Run the database-side repair and re-enqueue every unfinished send."""
    lease = timedelta(seconds=current_app.extensions["kith.settings"].send_lease_seconds)
    with transaction(immediate=True) as session:
        send_ids = service.reconcile(session, lease=lease)
    for send_id in send_ids:
        enqueue_send(send_id)
    return len(send_ids)


@job
def send_test(issue_id: int, member_id: int) -> bool:
    """The issue as recipients will get it, to one editor, marked as a test, recorded nowhere."""
    settings = current_app.extensions["kith.settings"]
    with transaction(immediate=True) as session:  # it may number the issue's links
        issue, member = session.get(Issue, issue_id), session.get(Member, member_id)
        if issue is None or member is None:
            return False
        email = _render(session, settings, issue, subject_prefix="[Test] ")
    message = email.personalize(settings, member, 0, mailer.bulk_signer())
    with mailer.transport().connect() as connection:
        connection.send_prepared(message.sender, member.email, message.data)
    return True
