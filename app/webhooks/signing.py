"""How a webhook request proves it came from Kith, and how a receiver checks it.

``Kith-Webhook-Signature: v1=<hex>`` where ``<hex>`` is HMAC-SHA256, keyed with the endpoint's
secret (its UTF-8 bytes, prefix included), of ``"{Kith-Webhook-Timestamp}.{raw body}"``. The
timestamp is inside the signed text, so a receiver that refuses old timestamps also refuses
a captured request replayed later. ``verify`` is what a Python receiver would write (and what
the tests use); docs/webhooks.md shows it standalone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SCHEME = "v1"
TOLERANCE_SECONDS = 5 * 60  # what docs/webhooks.md advises receivers to accept


class SignatureError(ValueError):
    """A request whose signature or timestamp a receiver must refuse."""


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return f"{SCHEME}=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def headers(secret: str, event_id: str, body: bytes, *, timestamp: int) -> dict[str, str]:
    """Every header of a delivery request but the ones the HTTP client adds itself."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "Kith-Webhooks/1",
        "Kith-Webhook-Id": event_id,
        "Kith-Webhook-Timestamp": str(timestamp),
        "Kith-Webhook-Signature": signature(secret, timestamp, body),
    }


def verify(
    secret: str,
    body: bytes,
    signature_header: str,
    timestamp_header: str,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise SignatureError unless the request is Kith's, signed with ``secret``, and recent.

    The header may list several ``v1=`` values (comma- or space-separated); one must match.
    """
    try:
        timestamp = int(timestamp_header)
    except (TypeError, ValueError):
        raise SignatureError("Kith-Webhook-Timestamp is missing or not a number") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise SignatureError("the timestamp is too old (or in the future): a replay?")
    expected = signature(secret, timestamp, body)
    offered = (signature_header or "").replace(",", " ").split()
    if not any(hmac.compare_digest(expected, value) for value in offered):
        raise SignatureError("the signature does not match the body and timestamp")
