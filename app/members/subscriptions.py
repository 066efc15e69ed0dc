"""Joining and leaving: double opt-in sign-up, confirmation, unsubscribe and the consent record.

Nothing but a confirmation is ever mailed to an address before its owner confirms, and the
answer to a sign-up never reveals whether the address was already known: a known, confirmed
address is sent a sign-in link instead of a second confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import webhooks
from app.config import Settings
from app.db import utcnow
from app.issues.models import Issue
from app.members import service, tokens
from app.members.models import ConsentEvent, Member


@dataclass(frozen=True)
class SignupOutcome:
    """What to mail after the sign-up commits: a confirmation, a sign-in link, or nothing."""

    send: str  # "confirmation" | "login" | "nothing"
    member_id: int | None = None
    login_nonce: str | None = None


def record_consent(
    session: Session,
    member: Member,
    action: str,
    *,
    source: str = "",
    ip: str | None = None,
    detail: str = "",
    issue_id: int | None = None,
) -> ConsentEvent:
    event = ConsentEvent(
        member_id=member.id,
        email_hash=tokens.email_hash(member.email),
        action=action,
        source=source,
        ip=ip,
        detail=detail,
        issue_id=issue_id,
    )
    session.add(event)
    return event


CONFIRMATION_RESEND_AFTER = timedelta(minutes=15)


def subscribe(
    session: Session, email: str, *, name: str = "", ip: str | None, source: str = "form"
) -> SignupOutcome:
    """Sign ``email`` up (pending until confirmed). Raises InvalidEmail for a bad address.

    A confirmation is mailed at most once per quarter hour per address, whoever asks.
    """
    normalized = service.normalize_email(email)
    member = session.scalar(select(Member).where(Member.email == normalized))
    if member is None:
        member = Member(
            email=normalized, name=name.strip()[:200], status="pending", source="form", fields={}
        )
        session.add(member)
        session.flush()
        record_consent(session, member, "subscribe", source=source, ip=ip)
        return _confirmation(member)
    if member.status == "pending":
        return _confirmation(member)
    if member.status == "unsubscribed":
        record_consent(session, member, "resubscribe", source=source, ip=ip)
        return _confirmation(member)
    if member.status == "active":
        return SignupOutcome("login", member.id, service.start_login(session, member).nonce)
    return SignupOutcome("nothing")  # bounced or complained: we must not mail it


def _confirmation(member: Member) -> SignupOutcome:
    now = utcnow()
    if (
        member.confirmation_sent_at
        and now - member.confirmation_sent_at < CONFIRMATION_RESEND_AFTER
    ):
        return SignupOutcome("nothing")
    member.confirmation_sent_at = now
    return SignupOutcome("confirmation", member.id)


@dataclass(frozen=True)
class Confirmation:
    member: Member
    newly_confirmed: bool  # only this first use signs the reader in


def confirm(session: Session, settings: Settings, token: str, *, ip: str | None) -> Confirmation:
    """Activate the member a confirmation link was sent to; using it again changes nothing.

    A link from before the member unsubscribed cannot re-subscribe them: that takes a new
    sign-up and a new link.
    """
    payload, issued_at = tokens.verify(settings, "confirm", token, with_timestamp=True)
    member = _member_matching(session, payload, purpose="confirm")
    if member.status in ("bounced", "complained"):
        raise tokens.TokenError("This address cannot receive our email, so it cannot be confirmed.")
    if member.status == "active":
        return Confirmation(member, newly_confirmed=False)
    if member.unsubscribed_at is not None and member.unsubscribed_at > issued_at:
        raise tokens.TokenError(
            "You unsubscribed after this link was sent. Subscribe again to get a new one."
        )
    was = {"status": member.status}
    member.status = "active"
    member.confirmed_at = utcnow()
    member.unsubscribed_at = None
    record_consent(session, member, "confirm", source="email link", ip=ip)
    session.flush()
    webhooks.member_changed(session, member, was)
    return Confirmation(member, newly_confirmed=True)


def peek(session: Session, settings: Settings, purpose: str, token: str) -> Member:
    """The member a link belongs to, without acting on it (for the confirm pages)."""
    return _member_for(session, settings, purpose, token)


def unsubscribe(
    session: Session, settings: Settings, token: str, *, source: str, ip: str | None
) -> Member:
    """Stop all bulk mail to the link's member at once; no sign-in, and safe to repeat.

    A link from an issue email names the issue (``i``), which the issue's report counts.
    """
    payload = tokens.verify(settings, "unsubscribe", token)
    member = _member_matching(session, payload, purpose="unsubscribe")
    issue_id = payload.get("i") if isinstance(payload.get("i"), int) else None
    if issue_id is not None and session.get(Issue, issue_id) is None:
        issue_id = None  # the issue was deleted since
    stop_bulk_mail(session, member, source=source, ip=ip, issue_id=issue_id)
    return member


def stop_bulk_mail(
    session: Session,
    member: Member,
    *,
    source: str,
    ip: str | None = None,
    detail: str = "",
    issue_id: int | None = None,
) -> bool:
    """Unsubscribe ``member`` (the link, a mailed request, an editor through the API); True if
    it changed anything. A bounced or complained address stays so."""
    if member.status not in ("active", "pending"):
        return False
    was = {"status": member.status}
    member.status = "unsubscribed"
    member.unsubscribed_at = utcnow()
    record_consent(
        session, member, "unsubscribe", source=source, ip=ip, detail=detail, issue_id=issue_id
    )
    session.flush()
    webhooks.member_changed(session, member, was)
    return True


def _member_for(session: Session, settings: Settings, purpose: str, token: str) -> Member:
    return _member_matching(session, tokens.verify(settings, purpose, token), purpose=purpose)


def link_is_current(member: Member, token_payload_hash: str | None) -> bool:
    return tokens.email_hash(member.email)[:16] == token_payload_hash


def _member_matching(session: Session, payload: dict, *, purpose: str) -> Member:
    member = session.get(Member, payload["m"])
    # The address is part of the token, so a confirmation for an old address dies with an
    # email change. Unsubscribing stays possible from any mail the member ever received.
    stale = member is not None and tokens.email_hash(member.email)[:16] != payload.get("e")
    if member is None or (stale and purpose != "unsubscribe"):
        raise tokens.TokenError("This link no longer matches an account. It may have been deleted.")
    return member


def link(
    settings: Settings, purpose: str, member: Member, path: str, *, issue_id: int | None = None
) -> str:
    payload = {"m": member.id, "e": tokens.email_hash(member.email)[:16]}
    if issue_id is not None:
        payload["i"] = issue_id
    return settings.url(f"{path}/{tokens.sign(settings, purpose, payload)}")


def confirm_url(settings: Settings, member: Member) -> str:
    return link(settings, "confirm", member, "/confirm")


def unsubscribe_url(settings: Settings, member: Member, *, issue_id: int | None = None) -> str:
    """The member's unsubscribe link; from an issue email it names the issue too."""
    return link(settings, "unsubscribe", member, "/unsubscribe", issue_id=issue_id)
