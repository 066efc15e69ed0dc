"""What the outbox forgets when a member erases their account (reliability.md P5).

Events already recorded about them (``member.*``, ``reply.created`` for their posts,
``payment.updated``) lose their address, name and custom fields at once, delivered or not:
an endpoint still waiting for one gets it without them, then ``member.deleted``. That last
event must name the address so receivers can erase them too; it keeps it only until no
endpoint is still to get it (delivered, failed for good, or the endpoint deleted).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from app.webhooks import payloads
from app.webhooks.models import WebhookDelivery, WebhookEvent

WAITING = ("pending", "delivering")


def erase_member(session: Session, member_id: int) -> int:
    """Take the member out of every event recorded so far; how many events changed.

    A scan of the outbox (its payloads are not indexed): erasures are rare.
    """
    about = or_(
        WebhookEvent.payload["member"]["id"].as_integer() == member_id,
        WebhookEvent.payload["post"]["author"]["id"].as_integer() == member_id,
    )
    events = session.scalars(select(WebhookEvent).where(about)).all()
    for event in events:
        event.payload = payloads.erased(event.payload, member_id)
    session.flush()
    return len(events)


def forget_delivered(session: Session, event_ids: Iterable[str]) -> None:
    """The ``member.deleted`` events among ``event_ids`` that no endpoint still waits for
    forget the address they carried."""
    waiting = exists().where(
        WebhookDelivery.event_id == WebhookEvent.id, WebhookDelivery.status.in_(WAITING)
    )
    done = session.scalars(
        select(WebhookEvent).where(
            WebhookEvent.id.in_(list(event_ids)),
            WebhookEvent.type == "member.deleted",
            ~waiting,
        )
    )
    for event in done:
        event.payload = payloads.erased(event.payload, event.payload["member"]["id"])
    session.flush()
