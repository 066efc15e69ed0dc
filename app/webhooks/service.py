"""Delivering events: claiming a due delivery, recording each try, backing off, giving up.

A delivery is tried by one job at a time: the job first moves it ``pending → delivering`` with
a conditional UPDATE (the row lock on PostgreSQL, the write lock on SQLite make a second
claimer find nothing), makes the request outside any transaction, then records the outcome
only if its claim still stands. Delivery is at least once: a worker that dies after the
receiver answered but before the commit leaves the claim to expire and the event is sent
again, with the same ``Kith-Webhook-Id`` for the receiver to drop.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.webhooks import erasure, outbox, signing
from app.webhooks.models import TEST_EVENT, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.webhooks.models import WebhookEvent as Event
from app.webhooks.transport import Response

# The wait after each failed try; after the last, the delivery has failed (8 tries, ~44 h).
BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
LEASE = timedelta(minutes=5)  # a claim older than this belongs to a worker that died
EARLY = timedelta(seconds=5)  # workers' clocks differ a little; a retry may start this early
SNIPPET_CHARS = 1000
ERROR_CHARS = 1000


class DeliveryError(ValueError):
    """A request about a delivery that cannot be carried out, with a message for the editor."""


def envelope(event: Event) -> dict[str, Any]:
    """What a receiver gets: the event's id, type and time around its ``data``."""
    created = event.created_at.isoformat().replace("+00:00", "Z")
    return {"id": event.id, "type": event.type, "created_at": created, "data": event.payload}


def body(event: Event) -> bytes:
    return json.dumps(envelope(event), separators=(",", ":")).encode()


@dataclass(frozen=True)
class Request:
    """A claimed try, ready to send: the claim stamp proves it is still this job's."""

    delivery_id: int
    attempt: int
    claimed_at: datetime
    url: str
    body: bytes
    headers: dict[str, str]


def claim(session: Session, delivery_id: int, *, now: datetime | None = None) -> Request | None:
    """Claim the delivery if it is due and its endpoint is on; None if it is not this job's."""
    now = now or utcnow()
    active = select(WebhookEndpoint.id).where(WebhookEndpoint.active)
    claimed = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now + EARLY,
            WebhookDelivery.endpoint_id.in_(active.scalar_subquery()),
        )
        .values(status="delivering", claimed_at=now, attempts=WebhookDelivery.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return None
    delivery = session.get(WebhookDelivery, delivery_id, populate_existing=True)
    payload = body(delivery.event)
    # The signature carries the real time, whatever ``now`` says: receivers check it.
    timestamp = int(utcnow().timestamp())
    headers = signing.headers(
        delivery.endpoint.secret, delivery.event_id, payload, timestamp=timestamp
    )
    return Request(delivery_id, delivery.attempts, now, delivery.endpoint.url, payload, headers)


@dataclass(frozen=True)
class Outcome:
    status: str  # delivered | pending (tried again at next_attempt_at) | failed | lost | gone
    attempts: int
    next_attempt_at: datetime | None = None


def record(
    session: Session, request: Request, response: Response, *, now: datetime | None = None
) -> Outcome:
    """Record the try and move the delivery on: delivered, due again later, or failed.

    ``lost``: the claim expired meanwhile (this worker looked dead) and the row is another
    job's now; the try is recorded all the same.
    """
    now = now or utcnow()
    event_id = session.scalar(
        select(WebhookDelivery.event_id).where(WebhookDelivery.id == request.delivery_id)
    )
    if event_id is None:
        return Outcome("gone", request.attempt)  # its endpoint was deleted meanwhile
    error = "" if response.ok else (response.error or f"HTTP {response.status_code}")
    session.add(
        WebhookAttempt(
            delivery_id=request.delivery_id,
            number=request.attempt,
            started_at=request.claimed_at,
            duration_ms=response.duration_ms,
            status_code=response.status_code,
            error=error[:ERROR_CHARS],
            response_snippet=response.snippet[:SNIPPET_CHARS],
        )
    )
    if response.ok:
        outcome = Outcome("delivered", request.attempt)
    elif request.attempt >= MAX_ATTEMPTS:
        outcome = Outcome("failed", request.attempt)
    else:
        retry_at = now + BACKOFF[request.attempt - 1]
        outcome = Outcome("pending", request.attempt, retry_at)
    moved = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == request.delivery_id,
            WebhookDelivery.status == "delivering",
            WebhookDelivery.claimed_at == request.claimed_at,
        )
        .values(
            status=outcome.status,
            next_attempt_at=outcome.next_attempt_at,
            delivered_at=now if response.ok else None,
            last_status_code=response.status_code,
            last_error=error[:ERROR_CHARS],
            claimed_at=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.flush()
    if moved and outcome.status in ("delivered", "failed"):
        erasure.forget_delivered(session, [event_id])
    return outcome if moved else Outcome("lost", request.attempt)


def reconcile(session: Session, *, now: datetime | None = None) -> int:
    """Give back claims of workers that died mid-try: due again now (the try counts)."""
    now = now or utcnow()
    return session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.status == "delivering", WebhookDelivery.claimed_at < now - LEASE)
        .values(
            status="pending",
            next_attempt_at=now,
            claimed_at=None,
            last_error="its worker stopped during the try",
        )
        .execution_options(synchronize_session=False)
    ).rowcount


def due(
    session: Session, *, now: datetime | None = None, after_id: int = 0, limit: int = 1000
) -> list[tuple[int, int]]:
    """``(delivery id, attempts)`` of deliveries due now to active endpoints, by id."""
    now = now or utcnow()
    rows = session.execute(
        select(WebhookDelivery.id, WebhookDelivery.attempts)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status == "pending",
            WebhookDelivery.next_attempt_at <= now + EARLY,
            WebhookDelivery.id > after_id,
            WebhookEndpoint.active,
        )
        .order_by(WebhookDelivery.id)
        .limit(limit)
    )
    return [(delivery_id, attempts) for delivery_id, attempts in rows]


def retry_now(
    session: Session, delivery_id: int, *, now: datetime | None = None
) -> WebhookDelivery:
    """The editor's "Retry now": one more try at once, for a failed or waiting delivery."""
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise DeliveryError("There is no such delivery.")
    if delivery.status == "delivered":
        raise DeliveryError("That delivery already succeeded: send a test event instead.")
    if delivery.status == "delivering":
        raise DeliveryError("That delivery is being tried right now.")
    if not delivery.endpoint.active:
        raise DeliveryError("Turn the endpoint on first: a disabled endpoint is sent nothing.")
    delivery.status, delivery.next_attempt_at = "pending", now or utcnow()
    session.flush()
    outbox.deliver_after_commit(session, [(delivery.id, delivery.attempts)])
    return delivery


def send_test(session: Session, endpoint_id: int, *, now: datetime | None = None) -> str:
    """A ``webhook.test`` event for this endpoint alone, whatever events it wants."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise DeliveryError("There is no such endpoint.")
    if not endpoint.active:
        raise DeliveryError("Turn the endpoint on first: a disabled endpoint is sent nothing.")
    data = {
        "message": "A test event from Kith: if you can read this, the endpoint works.",
        "endpoint": {"id": endpoint.id, "url": endpoint.url},
    }
    return outbox.record(session, TEST_EVENT, [data], [endpoint.id], now=now or utcnow())[0]
