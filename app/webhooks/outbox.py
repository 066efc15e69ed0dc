"""Recording events: ``emit`` writes an event and its deliveries in the caller's transaction.

The event commits or rolls back with the change it reports, so a receiver never hears of a
change that did not happen, and a change never happens without its event (the transactional
outbox). Jobs are queued only after the commit; if Redis is down then, the maintenance sweep
finds the deliveries in the database later.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import redis
from flask import has_app_context
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from app import embedded_redis
from app.db import utcnow
from app.queue import enqueue
from app.webhooks.models import (
    EVENT_TYPES,
    TEST_EVENT,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

DELIVER_JOB = "app.webhooks.jobs.deliver"
SWEEP_JOB = "app.webhooks.jobs.requeue_due"
FAN_OUT = 50  # more new deliveries than this in one commit: one sweep job queues them
_NEW = "kith.webhooks.new_deliveries"
_HOOKED = "kith.webhooks.hooked"

Payload = Mapping[str, Any] | Callable[[], Mapping[str, Any]]
log = logging.getLogger(__name__)


def emit(
    session: Session, event_type: str, payload: Payload, *, now: datetime | None = None
) -> None:
    """Record an ``event_type`` event for every active endpoint that wants it, in ``session``'s
    transaction. Never raises: a webhook problem is logged and the change goes ahead.

    ``payload`` (the envelope's ``data``, see ``payloads``) may be a function, called only
    when some endpoint listens: building it may cost queries nobody needs.
    """
    emit_many(session, event_type, lambda: [payload() if callable(payload) else payload], now=now)


def emit_many(
    session: Session,
    event_type: str,
    payloads: Callable[[], Iterable[Mapping[str, Any]]],
    *,
    now: datetime | None = None,
) -> None:
    """``emit`` for many events of one type at once (an import), in a few statements."""
    session.flush()  # the caller's own changes first: their errors are theirs to see
    try:
        with session.begin_nested():
            if event_type not in EVENT_TYPES:
                raise ValueError(f"unknown webhook event type {event_type!r}")
            endpoint_ids = _listeners(session, event_type)
            if endpoint_ids:
                record(session, event_type, list(payloads()), endpoint_ids, now=now or utcnow())
    except Exception:  # noqa: BLE001 - an event must never cost the change itself
        log.exception("webhook event %s was not recorded; the change goes ahead", event_type)


def _listeners(session: Session, event_type: str) -> list[int]:
    rows = session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.active)
    )
    return [endpoint_id for endpoint_id, events in rows if event_type in (events or ())]


def record(
    session: Session,
    event_type: str,
    payloads: list[Mapping[str, Any]],
    endpoint_ids: list[int],
    *,
    now: datetime,
) -> list[str]:
    """Write the events and one pending delivery per (event, endpoint); their ids."""
    if event_type not in EVENT_TYPES and event_type != TEST_EVENT:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    events = [
        # Through JSON and back: whatever cannot be sent fails here, before any row exists.
        {"id": str(uuid.uuid4()), "type": event_type, "payload": json.loads(json.dumps(data)),
         "created_at": now}
        for data in payloads
    ]  # fmt: skip
    if not events or not endpoint_ids:
        return []
    session.execute(insert(WebhookEvent), events)
    rows = [
        {"event_id": item["id"], "endpoint_id": endpoint_id, "status": "pending", "attempts": 0,
         "next_attempt_at": now, "created_at": now, "last_error": ""}
        for item in events
        for endpoint_id in endpoint_ids
    ]  # fmt: skip
    ids = session.scalars(insert(WebhookDelivery).returning(WebhookDelivery.id), rows).all()
    deliver_after_commit(session, [(delivery_id, 0) for delivery_id in ids])
    return [item["id"] for item in events]


def job_id(delivery_id: int, attempts: int) -> str:
    """One id per try: a retry is a new job, and the sweep can ask Redis if this one exists."""
    return f"webhook-{delivery_id}-{attempts}"


def deliver_after_commit(session: Session, due: list[tuple[int, int]]) -> None:
    """Queue a try of each ``(delivery id, attempts so far)`` once ``session`` commits."""
    session.info.setdefault(_NEW, []).extend(due)
    if not session.info.get(_HOOKED):
        event.listen(session, "after_commit", _enqueue_new)
        event.listen(session, "after_rollback", _forget_new)
        session.info[_HOOKED] = True


def _forget_new(session: Session) -> None:
    session.info.pop(_NEW, None)


def _enqueue_new(session: Session) -> None:
    due = session.info.pop(_NEW, [])
    if not due or not has_app_context():  # no app (a script, a test): the sweep finds them
        return
    try:
        if len(due) > FAN_OUT:
            enqueue(SWEEP_JOB, job_id="webhooks-sweep")
        else:
            for delivery_id, attempts in due:
                enqueue(DELIVER_JOB, delivery_id, job_id=job_id(delivery_id, attempts))
    except (redis.RedisError, OSError, embedded_redis.EmbeddedRedisError):
        log.warning("could not queue webhook deliveries; the maintenance sweep will", exc_info=True)
