"""Making, checking and revoking API tokens.

A token is ``kith_`` and 43 random URL-safe characters (256 bits). With that much entropy a
plain SHA-256 is as safe at rest as a slow password hash, and lets a request find its row by
an indexed lookup; the final comparison is constant-time all the same. Only editors own
tokens, and a token stops working the moment its owner is no longer an editor, so the API
never acts for an ordinary member.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.api.models import SCOPES, ApiToken
from app.db import utcnow
from app.members import service as members
from app.members.models import Member

PREFIX = "kith_"
SHOWN_PREFIX = len(PREFIX) + 6  # what lists show of a token: kith_ and six characters
MAX_NAME = 100
# Recording every request's use would make each read a write; a minute is precise enough.
LAST_USED_PRECISION = timedelta(minutes=1)


class TokenError(ValueError):
    """A token that cannot be made or revoked; the message says why."""


class Unauthorized(Exception):
    """A request whose token is missing, unknown, revoked or no longer an editor's."""


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``secret`` exists only here, to be shown once."""

    token: ApiToken
    secret: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create(session: Session, editor: Member, *, name: str, scope: str) -> NewToken:
    """A new token for ``editor``; its secret is returned once and never stored."""
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME:
        raise TokenError(f"Give the token a name of 1 to {MAX_NAME} characters.")
    if scope not in SCOPES:
        raise TokenError(f"The scope must be one of: {', '.join(SCOPES)}.")
    if not editor.is_editor:
        raise TokenError(f"{editor.email} is not an editor: only editors have API tokens.")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        prefix=secret[:SHOWN_PREFIX],
        token_hash=hash_secret(secret),
        scope=scope,
        editor_id=editor.id,
    )
    session.add(token)
    session.flush()
    return NewToken(token, secret)


def owner(session: Session, email: str | None) -> Member:
    """The editor a new token belongs to: the one named, or the only editor there is."""
    if email:
        member = members.find_by_email(session, email)
        if member is None or not member.is_editor:
            raise TokenError(f"{email} is not an editor: only editors have API tokens.")
        return member
    editors = session.scalars(select(Member).where(Member.role == "editor").limit(2)).all()
    if len(editors) != 1:
        raise TokenError(
            "There is no editor yet: make one with kith create-editor."
            if not editors
            else "There are several editors: choose the owner with --editor EMAIL."
        )
    return editors[0]


def authenticate(session: Session, secret: str, *, now: datetime | None = None) -> ApiToken:
    """The live token behind ``secret``, its use recorded; raises Unauthorized with the reason."""
    now = now or utcnow()
    if not secret.startswith(PREFIX):
        raise Unauthorized("That is not a Kith API token.")
    digest = hash_secret(secret)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        raise Unauthorized("Unknown API token.")
    if token.revoked_at is not None:
        raise Unauthorized("This API token was revoked.")
    if not (token.editor.is_editor and token.editor.is_active):
        raise Unauthorized("This API token's owner is no longer an editor.")
    _record_use(session, token, now)
    return token


def _record_use(session: Session, token: ApiToken, now: datetime) -> None:
    """Stamp ``last_used_at``, at most once per LAST_USED_PRECISION, whoever races."""
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_PRECISION:
        return
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token.id,
            or_(
                ApiToken.last_used_at.is_(None),
                ApiToken.last_used_at <= now - LAST_USED_PRECISION,
            ),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )


def revoke(session: Session, token_id: int) -> ApiToken:
    """Stop a token for good (revoking twice changes nothing)."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise TokenError("There is no such API token.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token


def all_tokens(session: Session) -> list[ApiToken]:
    """Every token, live ones first, newest first."""
    query = select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
    return list(session.scalars(query))
