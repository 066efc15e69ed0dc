"""RQ entry points for webhooks: one job makes one try of one delivery.

The database says what is due; Redis only holds jobs. ``requeue_due`` (run by every worker's
maintenance, and as a fan-out after a large commit) queues a job for every due delivery that
has none in Redis, so a flushed Redis loses nothing, and a surplus job finds no claim to take.
"""

from __future__ import annotations

import logging
from datetime import datetime

import redis
from flask import current_app
from rq.job import Job

from app import embedded_redis
from app.db import transaction
from app.queue import connection, enqueue, job
from app.webhooks import outbox, service, transport

TIMEOUT_SECONDS = 10.0  # app.config["WEBHOOK_TIMEOUT_SECONDS"] overrides it (tests)
SWEEP_BATCH = 1000
log = logging.getLogger(__name__)


@job
def deliver(delivery_id: int) -> str:
    return attempt(delivery_id)


def attempt(delivery_id: int, *, now: datetime | None = None) -> str:
    """Claim, send and record one try (inside an app context); what became of the delivery,
    or ``not due`` when there was nothing for this job to do."""
    with transaction(immediate=True) as session:
        request = service.claim(session, delivery_id, now=now)
    if request is None:
        return "not due"
    timeout = float(current_app.config.get("WEBHOOK_TIMEOUT_SECONDS", TIMEOUT_SECONDS))
    response = transport.post(request.url, request.body, request.headers, timeout=timeout)
    with transaction(immediate=True) as session:
        outcome = service.record(session, request, response, now=now)
    if outcome.status == "pending":
        _schedule(delivery_id, outcome)
    return outcome.status


def _schedule(delivery_id: int, outcome: service.Outcome) -> None:
    """The next try as a delayed job; if Redis refuses it now, the sweep queues it when due."""
    try:
        enqueue(
            outbox.DELIVER_JOB,
            delivery_id,
            at=outcome.next_attempt_at,
            job_id=outbox.job_id(delivery_id, outcome.attempts),
        )
    except (redis.RedisError, OSError, embedded_redis.EmbeddedRedisError):
        log.warning("could not schedule webhook delivery %s", delivery_id, exc_info=True)


@job
def requeue_due() -> int:
    """Give back dead workers' claims, then queue every due delivery Redis has no job for."""
    with transaction(immediate=True) as session:
        service.reconcile(session)
    queued, after = 0, 0
    while True:
        with transaction() as session:
            batch = service.due(session, after_id=after, limit=SWEEP_BATCH)
        for delivery_id, attempts in _without_job(batch):
            enqueue(outbox.DELIVER_JOB, delivery_id, job_id=outbox.job_id(delivery_id, attempts))
            queued += 1
        if len(batch) < SWEEP_BATCH:
            return queued
        after = batch[-1][0]


WAITING = {b"created", b"queued", b"scheduled", b"started", b"deferred"}


def _without_job(batch: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The deliveries whose current try has no job waiting or running in Redis: none at all
    (Redis lost it), or one that ended without moving the delivery on (it failed, or ran
    before the delivery was due)."""
    if not batch:
        return []
    pipe = connection().pipeline(transaction=False)
    for delivery_id, attempts in batch:
        pipe.hget(Job.key_for(outbox.job_id(delivery_id, attempts)), "status")
    states = pipe.execute()
    return [item for item, state in zip(batch, states, strict=True) if state not in WAITING]
