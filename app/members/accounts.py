"""What a member does with their own account: profile, preferences, email change, export, erase."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import webhooks
from app.config import Settings
from app.members import audience, invites, service, tokens
from app.members.models import ConsentEvent, Member
from app.members.subscriptions import record_consent


class EmailTaken(ValueError):
    """The new address already belongs to another account."""


def update_profile(session: Session, member: Member, *, name: str) -> Member:
    member.name = name.strip()[:200]
    session.flush()
    return member


def set_preferences(
    session: Session, member: Member, *, issues: bool, replies: bool, digest: bool
) -> Member:
    member.email_issues, member.email_replies, member.email_digest = issues, replies, digest
    session.flush()
    return member


def request_email_change(session: Session, member: Member, new_email: str) -> Member:
    """Remember the new address until its owner confirms it from the link we mail there."""
    member.pending_email = service.normalize_email(new_email)
    session.flush()
    return member


def email_change_url(settings: Settings, member: Member) -> str:
    """The link for the member's pending address; a later request makes earlier links void.

    Both addresses go in as hashes: a token is signed, not encrypted, and its path is logged.
    """
    payload = {
        "m": member.id,
        "e": tokens.email_hash(member.email)[:16],
        "to": tokens.email_hash(member.pending_email)[:16],
    }
    return settings.url(f"/account/email/{tokens.sign(settings, 'email-change', payload)}")


def pending_email_change(session: Session, settings: Settings, token: str) -> tuple[Member, str]:
    payload = tokens.verify(settings, "email-change", token)
    member = session.get(Member, payload["m"])
    stale = member is None or tokens.email_hash(member.email)[:16] != payload.get("e")
    pending = member.pending_email if not stale else None
    if not pending or tokens.email_hash(pending)[:16] != payload.get("to"):
        raise tokens.TokenError(
            "This link is no longer valid: the account changed since it was sent."
        )
    return member, member.pending_email


def confirm_email_change(
    session: Session, settings: Settings, token: str, *, ip: str | None
) -> Member:
    """Switch to the new address; every other session of the member is signed out."""
    member, new_email = pending_email_change(session, settings, token)
    taken = session.scalar(
        select(Member.id).where(Member.email == new_email, Member.id != member.id)
    )
    if taken is not None:
        raise EmailTaken("That address already belongs to another account.")
    old_hash, was = tokens.email_hash(member.email), {"email": member.email}
    member.email, member.pending_email = new_email, None
    end_sessions(member)
    record_consent(
        session, member, "email_change", source="email link", ip=ip, detail=f"from {old_hash}"
    )
    session.flush()
    webhooks.member_changed(session, member, was)
    return member


def end_sessions(member: Member) -> None:
    """Sign ``member`` out everywhere. A session lives in a signed cookie that a copy keeps
    valid, so the only way to end one is to move the version its id carries (Member.get_id)."""
    member.session_version += 1


def sign_out_everywhere(session: Session, member_id: int) -> None:
    """Sign-out: this browser's cookie and every copy of it stop working at once."""
    member = session.get(Member, member_id)
    if member is not None:
        end_sessions(member)
        session.flush()


def export_data(session: Session, member: Member) -> dict[str, Any]:
    """Everything Kith holds about the member, as JSON-ready data."""
    events = session.scalars(
        select(ConsentEvent).where(ConsentEvent.member_id == member.id).order_by(ConsentEvent.id)
    ).all()
    return {
        "member": {
            "email": member.email,
            "name": member.name,
            "tier": member.tier,
            "status": member.status,
            "role": member.role,
            "source": member.source,
            "joined": member.created_at.isoformat(),
            "confirmed": member.confirmed_at.isoformat() if member.confirmed_at else None,
            "tags": [tag.name for tag in member.tags],
            "fields": member.fields or {},
            "email_preferences": {
                "issues": member.email_issues,
                "reply_notifications": member.email_replies,
                "digest": member.email_digest,
            },
        },
        "consent_history": [
            {
                "when": e.created_at.isoformat(),
                "action": e.action,
                "source": e.source,
                "ip": e.ip,
                "detail": e.detail,
            }
            for e in events
        ],
    }


def delete_account(session: Session, member: Member, *, ip: str | None) -> None:
    """Erase the member. Their consent history stays, tied only to a hash of the address;
    their posts, deliveries and bounces stay without them (the foreign keys go NULL). What
    copied their address or name into text forgets it: webhook events, invitation notes, the
    consent records of members an editor added.
    """
    webhooks.member_deleted(session, member)
    invites.forget_giver(session, member)
    audience.forget_adder(session, member)
    session.add(
        ConsentEvent(
            member_id=None,
            email_hash=tokens.email_hash(member.email),
            action="deleted",
            source="account",
            ip=ip,
        )
    )
    session.delete(member)
    session.flush()
