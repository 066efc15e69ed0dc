"""Which event a change to a member is, by one rule for every path that changes members.

A member is announced once, with ``member.created``, when they first become more than an
unconfirmed sign-up: when they confirm their address, or when an editor adds or imports them
(unless as pending). After that every change is ``member.updated``. Pending sign-ups, which
may be typos or someone else's address, are not announced; one that never turns active
never is (receivers upsert by member id, so a later ``member.updated`` introduces it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from app.webhooks import erasure, payloads
from app.webhooks.outbox import emit, emit_many


def event_for(was_status: str, status: str) -> str | None:
    """A pending sign-up is announced when it turns active; one that unsubscribes or bounces
    before that never is."""
    if was_status == "pending":
        return "member.created" if status == "active" else None
    return None if status == "pending" else "member.updated"


def member_created(session: Session, member: Any) -> None:
    """A member row was just made (by an editor, an import): announced unless pending."""
    if member.status != "pending":
        emit(session, "member.created", lambda: payloads.member(member))


def member_changed(session: Session, member: Any, was: Mapping[str, Any]) -> None:
    """``member`` changed from the values in ``was`` (which must name the old ``status``
    whenever it changed)."""
    kind = event_for(was.get("status", member.status), member.status)
    if kind == "member.created":
        emit(session, kind, lambda: payloads.member(member))
    elif kind == "member.updated":
        emit(session, kind, lambda: payloads.member(member, was=was))


def members_changed(session: Session, was_by_id: Mapping[int, Mapping[str, Any]]) -> None:
    """``member_changed`` for many members at once (an import); each ``was`` names the old
    ``status``. The members are read only if some endpoint listens."""
    if not was_by_id:
        return

    def of_kind(kind: str):
        def build() -> list[dict[str, Any]]:
            found = payloads.load_members(session, ids=was_by_id)
            return [
                payloads.member(person, was=None if kind == "member.created" else was)
                for person, was in ((item, was_by_id[item.id]) for item in found)
                if event_for(was["status"], person.status) == kind
            ]

        return build

    for kind in ("member.created", "member.updated"):
        emit_many(session, kind, of_kind(kind))


def members_created(session: Session, emails: list[str]) -> None:
    """``member_created`` for the rows an import just inserted, by address."""
    emit_many(
        session,
        "member.created",
        lambda: [
            payloads.member(person)
            for person in payloads.load_members(session, emails=emails)
            if person.status != "pending"
        ],
    )


def member_deleted(session: Session, member: Any) -> None:
    """About to be erased: the events about them forget them (``erasure``), and receivers
    are told to erase them too (a pending sign-up was never announced)."""
    erasure.erase_member(session, member.id)
    if member.status != "pending":
        emit(session, "member.deleted", payloads.member_deleted(member))
