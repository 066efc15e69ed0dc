"""Kith's own inbound addresses: ``bounce+``, ``reply+`` and ``unsubscribe+TOKEN@REPLY_DOMAIN``.

The token is signed (``members.tokens``), so an address names a member and a delivery or an
issue that nobody outside can invent. This module is pure: no database, so the SMTP server
can answer RCPT with it before a message is even sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from app.config import Settings
from app.members import tokens


class AddressError(ValueError):
    """One of our addresses whose token is forged, damaged or incomplete."""


@dataclass(frozen=True)
class Address:
    kind: str  # "bounce" | "reply" | "unsubscribe"
    payload: dict[str, Any]  # bounce: {"m": member, "d": delivery}; reply: {"m", "i": issue}
    token: str = ""


# local-part prefix → the keys its signed payload must carry as integers
KINDS: dict[str, tuple[str, ...]] = {
    "bounce": ("m", "d"),
    "reply": ("m", "i"),
    "unsubscribe": ("m",),  # List-Unsubscribe's mailto (RFC 2369), the link's own token
}


def parse(settings: Settings, recipient: str) -> Address | None:
    """The Kith address ``recipient`` is, None if it is not one of ours at all.

    Raises AddressError for an address of ours that does not verify. Accepts ``<a@b>`` and
    ``Name <a@b>`` forms; the domain is compared case-insensitively, the token exactly.
    """
    local, domain = _split(recipient)
    kind, plus, token = local.partition("+")
    if not plus or kind.lower() not in KINDS or domain != settings.reply_domain.lower():
        return None
    kind = kind.lower()
    try:
        payload = tokens.verify(settings, kind, token)
    except tokens.TokenError as error:
        raise AddressError(f"{kind}+ address with a token that does not verify") from error
    if not all(isinstance(payload.get(key), int) for key in KINDS[kind]):
        raise AddressError(f"{kind}+ address whose token names no {kind} target")
    return Address(kind, payload, token)


def _split(recipient: str) -> tuple[str, str]:
    address = parseaddr(recipient or "")[1]
    local, at, domain = address.rpartition("@")
    return (local, domain.lower().rstrip(".")) if at else ("", "")
