"""The editor's endpoints: which URLs are acceptable, what each wants, its secret, and what
the admin lists about its deliveries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.webhooks import erasure, outbox, service, signing
from app.webhooks.models import (
    EVENT_TYPES,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
MAX_URL = 2000


class EndpointError(ValueError):
    """An endpoint the editor asked for that cannot be, with a message for them."""


def clean_url(url: str, *, base_url: str) -> str:
    """An https:// URL, or http:// to this machine while Kith itself runs on http://
    (development): anything else would send members' data in clear text."""
    url = (url or "").strip()
    if not url:
        raise EndpointError("Enter the URL to send events to.")
    if len(url) > MAX_URL:
        raise EndpointError(f"That URL is too long: at most {MAX_URL} characters.")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        raise EndpointError(
            "Enter a full URL starting with https://, e.g. https://example.com/hook."
        )
    if parts.username is not None or parts.password is not None:
        raise EndpointError(
            "Leave the user name and password out of the URL: receivers check the signature."
        )
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number in range
    except ValueError:
        raise EndpointError("The port in that URL is not a valid number.") from None
    if scheme == "http":
        local = parts.hostname.lower() in LOOPBACK_HOSTS
        if not local or not base_url.lower().startswith("http://"):
            raise EndpointError(
                "Use an https:// URL. Plain http:// is allowed only for localhost, 127.0.0.1 "
                "or [::1], and only while Kith itself runs on http:// (development)."
            )
    return url


def clean_events(events: Iterable[str]) -> list[str]:
    chosen = sorted(set(events or ()))
    if not chosen:
        raise EndpointError("Choose at least one event to send.")
    unknown = [name for name in chosen if name not in EVENT_TYPES]
    if unknown:
        raise EndpointError(f"Unknown event {unknown[0]!r}: choose from {', '.join(EVENT_TYPES)}.")
    return chosen


def get(session: Session, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise EndpointError("There is no such endpoint.")
    return endpoint


@dataclass(frozen=True, kw_only=True)
class Choice:
    """What the editor sets on an endpoint; ``create`` and ``update`` check it."""

    url: str
    events: Iterable[str]
    description: str = ""
    active: bool = True


def _apply(endpoint: WebhookEndpoint, choice: Choice, base_url: str) -> None:
    url, events = clean_url(choice.url, base_url=base_url), clean_events(choice.events)
    endpoint.url, endpoint.events = url, events
    endpoint.description, endpoint.active = choice.description.strip()[:200], choice.active


def create(session: Session, choice: Choice, *, base_url: str) -> WebhookEndpoint:
    """Register an endpoint with a new secret (shown to the editor in the admin)."""
    endpoint = WebhookEndpoint(secret=signing.new_secret())
    _apply(endpoint, choice, base_url)
    session.add(endpoint)
    session.flush()
    return endpoint


def update(session: Session, endpoint_id: int, choice: Choice, *, base_url: str) -> WebhookEndpoint:
    """Change an endpoint. Turned back on, it gets what waited for it meanwhile."""
    endpoint = get(session, endpoint_id)
    reactivated = choice.active and not endpoint.active
    _apply(endpoint, choice, base_url)
    session.flush()
    if reactivated:
        waiting = session.execute(
            select(WebhookDelivery.id, WebhookDelivery.attempts).where(
                WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "pending"
            )
        )
        outbox.deliver_after_commit(session, [(row.id, row.attempts) for row in waiting])
    return endpoint


def rotate_secret(
    session: Session, endpoint_id: int, *, now: datetime | None = None
) -> WebhookEndpoint:
    """A new secret at once: every later try, retries included, is signed with it."""
    endpoint = get(session, endpoint_id)
    endpoint.secret = signing.new_secret()
    endpoint.secret_rotated_at = now or utcnow()
    session.flush()
    return endpoint


def delete(session: Session, endpoint_id: int) -> None:
    """Remove an endpoint and its deliveries (the events stay for other endpoints); an
    erased member's address goes from a ``member.deleted`` nobody else waits for."""
    erasures = session.scalars(
        select(WebhookDelivery.event_id)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookEvent.type == "member.deleted")
    ).all()
    session.delete(get(session, endpoint_id))
    session.flush()
    erasure.forget_delivered(session, erasures)


@dataclass(frozen=True)
class Summary:
    endpoint: WebhookEndpoint
    recent: list[WebhookDelivery]


def overview(session: Session, *, recent: int = 5) -> list[Summary]:
    """Every endpoint, newest first, with its latest deliveries."""
    found = session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id.desc()))
    return [Summary(endpoint, deliveries(session, endpoint.id, limit=recent)) for endpoint in found]


def deliveries(session: Session, endpoint_id: int, *, limit: int = 50) -> list[WebhookDelivery]:
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class DeliveryDetail:
    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]
    body: str  # the request body as sent (the signature headers change with each try)


def delivery_detail(session: Session, delivery_id: int) -> DeliveryDetail:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise EndpointError("There is no such delivery.")
    attempts = session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery_id)
        .order_by(WebhookAttempt.number, WebhookAttempt.id)
    )
    return DeliveryDetail(delivery, list(attempts), service.body(delivery.event).decode())
