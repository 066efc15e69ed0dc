"""Who is calling: ``Authorization: Bearer <token>`` and nothing else.

The API never reads the session cookie, so a page in a signed-in editor's browser cannot
drive it (which is also why it needs no CSRF token). Scopes: a ``read`` token may call what
only reads; anything that changes data needs ``write`` (views say so with ``@writes``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request
from flask_limiter.util import get_remote_address

from app.api import tokens
from app.api.errors import ApiError
from app.api.models import ApiToken
from app.db import transaction

DEFAULT_RATE_LIMIT = "600 per minute"
REALM = 'Bearer realm="kith"'
F = TypeVar("F", bound=Callable[..., Any])


def writes(view: F) -> F:
    """Mark a view that changes data: a read token gets 403."""
    view.api_scope = "write"
    return view


def public(view: F) -> F:
    """Mark a view anyone may call without a token (the API's description)."""
    view.api_public = True
    return view


def required_scope(view: Callable[..., Any]) -> str | None:
    """The scope ``view`` needs, or None for a public one."""
    return None if getattr(view, "api_public", False) else getattr(view, "api_scope", "read")


def bearer_secret() -> str | None:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return (secret.strip() or None) if scheme.lower() == "bearer" else None


def rate_limit_key() -> str:
    """Each token has its own budget; requests without one share their address's budget.

    Keyed by a hash, so the limiter's storage (Redis) never holds a token either.
    """
    secret = bearer_secret()
    if secret:
        return "api-token:" + hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()[:32]
    return "api-ip:" + (get_remote_address() or "")


def rate_limit() -> str:
    return current_app.config.get("API_RATE_LIMIT", DEFAULT_RATE_LIMIT)


def authenticate(scope: str) -> ApiToken:
    """The request's live token, if its scope allows ``scope``; ApiError 401 or 403 if not."""
    secret = bearer_secret()
    if secret is None:
        raise ApiError(401, headers={"WWW-Authenticate": REALM})
    try:
        with transaction() as session:
            token = tokens.authenticate(session, secret)
    except tokens.Unauthorized as error:
        challenge = f'{REALM}, error="invalid_token", error_description="{error}"'
        raise ApiError(401, str(error), headers={"WWW-Authenticate": challenge}) from None
    if scope == "write" and token.scope != "write":
        raise ApiError(
            403,
            "This API token may only read: make a write token for this.",
            headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="write"'},
        )
    return token
