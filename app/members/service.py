"""The rules for members and their sign-in links.

A sign-in link carries a signed, timestamped nonce (itsdangerous); the ``login_tokens`` row
makes it single-use. A link is consumed only by a POST: GETs from mail scanners must not
burn it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import utcnow
from app.members import tokens
from app.members.models import LoginToken, Member

LOGIN_SALT = tokens.PURPOSES["login"][0]


class InvalidEmail(ValueError):
    """An address that cannot receive mail, with email-validator's reason."""


class LoginLinkError(ValueError):
    """A sign-in link that cannot be used: forged, expired or already used."""


def normalize_email(raw: str) -> str:
    """The canonical form Kith stores and compares: validated, domain lower-cased, whole lower."""
    try:
        result = validate_email((raw or "").strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidEmail(str(error)) from error
    return result.normalized.lower()


def find_by_email(session: Session, email: str) -> Member | None:
    try:
        normalized = normalize_email(email)
    except InvalidEmail:
        return None
    return session.scalar(select(Member).where(Member.email == normalized))


def create_editor(session: Session, email: str, *, name: str = "") -> Member:
    """Make ``email`` an active editor, creating the member if needed."""
    normalized = normalize_email(email)
    member = session.scalar(select(Member).where(Member.email == normalized))
    if member is None:
        member = Member(email=normalized, name=name)
        session.add(member)
    member.role = "editor"
    member.status = "active"
    session.flush()
    return member


@dataclass(frozen=True)
class SignIn:
    member: Member
    next_path: str | None


def start_login(session: Session, member: Member, *, next_path: str | None = None) -> LoginToken:
    """Record a new single-use sign-in token for ``member`` (and where to go afterwards)."""
    token = LoginToken(nonce=secrets.token_urlsafe(24), member_id=member.id, next_path=next_path)
    session.add(token)
    session.flush()
    return token


def request_login(
    session: Session, email: str, *, next_path: str | None = None
) -> LoginToken | None:
    """A token for a confirmed member with this address, or None (the caller must not say which)."""
    member = find_by_email(session, email)
    if member is None or not member.is_active:
        return None
    return start_login(session, member, next_path=next_path)


def sign_login_token(settings: Settings, token: LoginToken) -> str:
    return tokens.sign(settings, "login", {"n": token.nonce, "m": token.member_id})


def login_url(settings: Settings, token: LoginToken) -> str:
    return settings.url(f"/login/{sign_login_token(settings, token)}")


def peek_login(session: Session, settings: Settings, signed: str) -> Member:
    """The member a link would sign in, without consuming it (for the confirm page)."""
    nonce, member_id = _verify(settings, signed)
    token = session.get(LoginToken, nonce)
    if token is None or token.member_id != member_id or token.used_at is not None:
        raise LoginLinkError("This sign-in link has already been used. Ask for a new one.")
    member = session.get(Member, member_id)
    if member is None or not member.is_active:
        raise LoginLinkError("This sign-in link is no longer valid. Ask for a new one.")
    return member


def consume_login(session: Session, settings: Settings, signed: str) -> SignIn:
    """Use a sign-in link exactly once; a replay, a forgery or an old link raises."""
    member = peek_login(session, settings, signed)
    nonce, _ = _verify(settings, signed)
    oldest = utcnow() - timedelta(seconds=settings.login_link_max_age)
    claimed = session.execute(
        update(LoginToken)
        .where(
            LoginToken.nonce == nonce,
            LoginToken.used_at.is_(None),
            LoginToken.created_at >= oldest,
        )
        .values(used_at=utcnow())
    ).rowcount
    if claimed != 1:
        raise LoginLinkError(
            "This sign-in link has expired or was already used. Ask for a new one."
        )
    return SignIn(member, session.get(LoginToken, nonce).next_path)


def _verify(settings: Settings, signed: str) -> tuple[str, int]:
    try:
        payload = tokens.verify(settings, "login", signed, max_age=settings.login_link_max_age)
    except tokens.TokenError as error:
        raise LoginLinkError(
            f"This sign-in link {str(error).removeprefix('This link ')}"
        ) from error
    if not isinstance(payload.get("n"), str):
        raise LoginLinkError("This sign-in link is not valid. Ask for a new one.")
    return payload["n"], payload["m"]


def load_member(session: Session, session_id: str) -> Member | None:
    """The member behind a session id ``"<id>:<version>"``; a bumped version ends old sessions."""
    member_id, _, version = str(session_id).partition(":")
    try:
        member = session.get(Member, int(member_id))
    except (TypeError, ValueError):
        return None
    if member is None or str(member.session_version) != version:
        return None
    return member
