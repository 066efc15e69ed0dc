"""Kith's own inbound addresses: ``bounce+``, ``reply+`` and ``unsubscribe+TOKEN@REPLY_DOMAIN``.

The token is signed (``members.tokens``), so an address names a member and a delivery, an
issue or a thread that nobody outside can invent. This module is pure: no database, so the
SMTP server can answer RCPT with it before a message is even sent.
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
    # bounce: {"m": member, "d": delivery}; reply: {"m", "i": issue} or {"m", "t": thread,
    # "p": post (optional)}; unsubscribe: {"m", …}
    payload: dict[str, Any]
    token: str = ""


@dataclass(frozen=True)
class Shape:
    """What a kind's signed payload holds: every key of ``required`` as an integer, and when
    ``alternatives`` are given, exactly the keys of one of them besides (integers too)."""

    required: tuple[str, ...]
    alternatives: tuple[frozenset[str], ...] = ()

    def fits(self, payload: dict[str, Any]) -> bool:
        if not all(_is_int(payload.get(key)) for key in self.required):
            return False
        if not self.alternatives:
            return True
        rest = set(payload) - set(self.required)
        return rest in self.alternatives and all(_is_int(payload[key]) for key in rest)


# local-part prefix → the shape of its signed payload
KINDS: dict[str, Shape] = {
    "bounce": Shape(("m", "d")),
    # An issue email's reply names the issue; a notification's names a thread, and the post
    # it tells about when there is one. Nothing else: a reply token is ids only.
    "reply": Shape(("m",), (frozenset({"i"}), frozenset({"t"}), frozenset({"t", "p"}))),
    "unsubscribe": Shape(("m",)),  # List-Unsubscribe's mailto (RFC 2369), the link's own token
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
    if not KINDS[kind].fits(payload):
        raise AddressError(f"{kind}+ address whose token names no {kind} target")
    return Address(kind, payload, token)


def reply_address(
    settings: Settings,
    member_id: int,
    *,
    issue_id: int | None = None,
    thread_id: int | None = None,
    post_id: int | None = None,
) -> str:
    """``reply+TOKEN@REPLY_DOMAIN`` for ``member_id``: a mailed reply to it posts in the
    issue's thread (``issue_id``), or in ``thread_id``, under ``post_id`` when given.

    Raises ValueError for a combination ``parse`` would refuse, so no email carries one.
    """
    payload = {"m": member_id, "i": issue_id, "t": thread_id, "p": post_id}
    payload = {key: value for key, value in payload.items() if value is not None}
    if not KINDS["reply"].fits(payload):
        raise ValueError("a reply address names a member and an issue, or a thread (and post)")
    return f"reply+{tokens.sign(settings, 'reply', payload)}@{settings.reply_domain}"


def _is_int(value: Any) -> bool:
    return type(value) is int  # not bool, which is an int subclass to Python


def _split(recipient: str) -> tuple[str, str]:
    address = parseaddr(recipient or "")[1]
    local, at, domain = address.rpartition("@")
    return (local, domain.lower().rstrip(".")) if at else ("", "")
