"""The ``data`` of each event type: one stable JSON shape each, documented in docs/webhooks.md.

Receivers build integrations on these shapes, so a field is added, never renamed or dropped.
Nothing secret goes in: no tokens, no session versions, no Stripe customer ids, no
endpoint secrets. Times are ISO 8601 in UTC.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.db import one_of_values
from app.issues.models import Issue
from app.members.models import Member
from app.sending.models import DELIVERY_STATES, Delivery, Send

FRESH = {"populate_existing": True}


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def member(person: Any, *, was: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``member.created``; with ``was`` (the changed fields' old values), ``member.updated``,
    whose ``changes`` name each changed field's old and new value."""
    data: dict[str, Any] = {
        "member": {
            "id": person.id,
            "email": person.email,
            "name": person.name,
            "tier": person.tier,
            "status": person.status,
            "source": person.source,
            "tags": [tag.name for tag in person.tags],
            "fields": dict(person.fields or {}),
            "created_at": iso(person.created_at),
            "confirmed_at": iso(person.confirmed_at),
        }
    }
    if was is not None:
        data["changes"] = {
            name: {"from": old, "to": getattr(person, name)}
            for name, old in was.items()
            if old != getattr(person, name)
        }
    return data


def load_members(
    session: Session, *, ids: Iterable[int] | None = None, emails: Iterable[str] = ()
) -> list[Member]:
    """Members by id (or else by address), read fresh: a bulk UPDATE may have changed them."""
    column, values = (Member.id, ids) if ids is not None else (Member.email, emails)
    query = select(Member).where(one_of_values(session, column, list(values)))
    query = query.options(selectinload(Member.tags))
    return list(session.scalars(query.order_by(Member.id), execution_options=FRESH))


def member_deleted(person: Any) -> dict[str, Any]:
    """``member.deleted``: who is gone, so a receiver can erase them too."""
    return {"member": {"id": person.id, "email": person.email}}


# What a payload says about a person that their erasure takes away (tags, tier and status
# are about their membership, not about who they are).
PERSONAL = {"email": None, "name": None, "fields": {}}


def erased(data: Mapping[str, Any], member_id: int) -> dict[str, Any]:
    """``data`` as it reads once member ``member_id`` erased their account: their address,
    name and custom fields null (``{}``), in ``changes`` too; the author of their posts null,
    as for a post made after the erasure."""
    data = copy.deepcopy(dict(data))
    person = data.get("member")
    if isinstance(person, dict) and person.get("id") == member_id:
        person.update({name: empty for name, empty in PERSONAL.items() if name in person})
        changes = data.get("changes") or {}
        for name in PERSONAL.keys() & changes.keys():
            changes[name] = {"from": None, "to": None}
    item = data.get("post")
    if isinstance(item, dict) and (item.get("author") or {}).get("id") == member_id:
        item["author"] = None
    return data


def post(item: Any) -> dict[str, Any]:
    """``reply.created``: a post in an issue's discussion or a forum topic. ``private``
    posts (feedback meant for the editor) are included and marked: endpoints are the
    editor's own."""
    thread, author = item.thread, item.author
    issue, board = thread.issue, thread.board
    return {
        "post": {
            "id": item.id,
            "thread_id": item.thread_id,
            "parent_id": item.parent_id,
            "private": item.private,
            "source": item.source,
            "body_markdown": item.body_markdown,
            "created_at": iso(item.created_at),
            "author": None
            if author is None
            else {"id": author.id, "name": author.name, "email": author.email},
        },
        "thread": {
            "id": thread.id,
            "kind": thread.kind,
            "title": thread.title,
            "issue": None if issue is None else {"id": issue.id, "slug": issue.slug},
            "board": None if board is None else {"id": board.id, "slug": board.slug},
        },
    }


def issue_sent(session: Session, send_id: int) -> dict[str, Any]:
    """``issue.sent``: a send finished; how many copies ended in each delivery state."""
    send = session.get(Send, send_id, populate_existing=True)
    issue = session.get(Issue, send.issue_id)
    counts = dict(
        session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.send_id == send_id)
            .group_by(Delivery.status)
        ).all()
    )
    return {
        "issue": {
            "id": issue.id,
            "slug": issue.slug,
            "title": issue.title,
            "visibility": issue.visibility,
            "published_at": iso(issue.published_at),
        },
        "send": {
            "id": send.id,
            "segment": send.expression,
            "started_at": iso(send.started_at),
            "finished_at": iso(send.finished_at),
            "recipients": sum(counts.values()),
            "deliveries": {state: counts.get(state, 0) for state in DELIVERY_STATES},
        },
    }


def subscription(row: Any, person: Any, *, previous_status: str | None) -> dict[str, Any]:
    """``payment.updated``: a Stripe subscription's state changed (``previous_status`` None:
    Kith had not seen it before), with the member's tier after the change."""
    return {
        "subscription": {
            "id": row.stripe_subscription_id,
            "status": row.status,
            "previous_status": previous_status,
            "price_id": row.price_id,
            "current_period_end": iso(row.current_period_end),
            "cancel_at_period_end": row.cancel_at_period_end,
        },
        "member": None
        if person is None
        else {"id": person.id, "email": person.email, "tier": person.tier},
    }
