"""Signed tokens for links in email, one salt per purpose.

Signed, not encrypted: payloads hold ids and never anything secret. Each purpose has its own
salt, so a token made for one link can never be replayed as another.
"""

from __future__ import annotations

import hashlib
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from app.config import Settings

# purpose → (salt, lifetime in seconds; None = never expires)
PURPOSES: dict[str, tuple[str, int | None]] = {
    "login": ("kith.login", 15 * 60),  # also single-use: see service.consume_login
    "confirm": ("kith.confirm", 7 * 24 * 3600),
    "email-change": ("kith.email-change", 24 * 3600),
    "unsubscribe": ("kith.unsubscribe", None),  # RFC 8058 links must keep working
    "reply": ("kith.reply", None),  # Reply-To: reply+TOKEN@REPLY_DOMAIN names member and issue
    "bounce": ("kith.bounce", None),  # VERP return path: bounce+TOKEN@REPLY_DOMAIN names a delivery
    "feedback": ("kith.feedback", 90 * 24 * 3600),  # an issue email's one-click rating links
}


class TokenError(ValueError):
    """A link that cannot be used; the message is fit to show the reader."""


def sign(settings: Settings, purpose: str, payload: dict[str, Any]) -> str:
    salt, lifetime = PURPOSES[purpose]
    if lifetime is None:
        return URLSafeSerializer(settings.secret_key, salt=salt).dumps(payload)
    return URLSafeTimedSerializer(settings.secret_key, salt=salt).dumps(payload)


def verify(
    settings: Settings,
    purpose: str,
    token: str,
    *,
    max_age: int | None = None,
    with_timestamp: bool = False,
) -> Any:
    """The payload of a valid token (with when it was signed, for timed purposes, if asked),
    or TokenError saying why it is not."""
    salt, lifetime = PURPOSES[purpose]
    lifetime = max_age or lifetime
    issued_at = None
    try:
        if lifetime is None:
            payload = URLSafeSerializer(settings.secret_key, salt=salt).loads(token)
        else:
            payload, issued_at = URLSafeTimedSerializer(settings.secret_key, salt=salt).loads(
                token, max_age=lifetime, return_timestamp=True
            )
    except SignatureExpired as error:
        raise TokenError("This link has expired. Ask for a new one.") from error
    except BadSignature as error:
        raise TokenError("This link is not valid. Check that it was copied whole.") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("m"), int):
        raise TokenError("This link is not valid. Check that it was copied whole.")
    return (payload, issued_at) if with_timestamp else payload


def email_hash(email: str) -> str:
    """What the consent record keeps of an address after its member is erased."""
    return hashlib.sha256(email.encode()).hexdigest()
