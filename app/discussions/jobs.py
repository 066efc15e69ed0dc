"""RQ entry points and maintenance tasks for discussion mail: notifications and the digest.

Jobs read what is due from the database and mail it through mailing.deliver_each, so a job
run twice, or lost with Redis, changes nothing: the maintenance tasks (run by every worker
each WORKER_MAINTENANCE_SECONDS) queue a job again while anything is still due.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app

from app.db import transaction, utcnow
from app.discussions import digest, mailing, notifications
from app.queue import enqueue_once, job, started
from app.sending.transport import DeliveryError

log = logging.getLogger(__name__)


def _settings():
    return current_app.extensions["kith.settings"]


@job
def send_notifications() -> int:
    """Mail a batch of unsent notifications; returns how many went out."""
    started(notifications.NOTIFY_JOB)
    settings = _settings()
    with transaction() as session:
        ids = notifications.unsent(session)
    try:
        tally = mailing.deliver_each(
            ids, lambda session, key: notifications.prepare(session, key, settings=settings)
        )
    except DeliveryError as error:
        log.warning("notifications wait: cannot reach the mail server (%s)", error)
        return 0
    if len(ids) == notifications.BATCH and not tally.deferred:
        notifications.enqueue()  # more are waiting
    return tally.sent


def resend_stale_notifications() -> bool:
    """Maintenance: notifications still unsent a minute after their post (a job lost with
    Redis, a mail server that was down) get a job again."""
    older_than = utcnow() - notifications.STALE_AFTER
    with transaction() as session:
        stale = notifications.unsent(session, older_than=older_than, limit=1)
    return bool(stale) and notifications.enqueue()


@job
def send_digests() -> int:
    """Mail one batch of due digests, and queue the next batch; returns how many went out."""
    started(digest.DIGEST_JOB)
    try:
        tally, more = run_digests()
    except DeliveryError as error:
        log.warning("digests wait: cannot reach the mail server (%s)", error)
        return 0
    if more:
        queue_digests()
    return tally.sent


def run_digests(*, now: datetime | None = None) -> tuple[mailing.Tally, bool]:
    """Claim and mail one batch of due digests: (the tally, whether more may be due).

    ``kith digest`` runs it until nothing is due; the job runs one batch per job."""
    settings, now = _settings(), now or utcnow()
    with transaction() as session:
        members, posts = digest.batch(session, now)
    tally = mailing.deliver_each(
        [member_id for member_id, _ in members],
        lambda session, key: digest.prepare(session, key, settings=settings, posts=posts, now=now),
    )
    return tally, len(members) == digest.BATCH and not tally.deferred


def queue_due_digests() -> bool:
    """Maintenance: once a member's digest is due (a day after the last), queue the job.
    Cheap when nobody is due, which is almost every time it runs."""
    with transaction() as session:
        anyone = digest.due(session, utcnow(), limit=1)
    return bool(anyone) and queue_digests()


def queue_digests() -> bool:
    """One run of the digest job waits at most (every worker's maintenance asks for it)."""
    return enqueue_once(digest.DIGEST_JOB, queue_name="notify")
