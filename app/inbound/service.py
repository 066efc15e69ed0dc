"""Receiving mail at Kith's own addresses: the router from an address to what it does.

Both doors (``kith inbound-smtp`` and ``POST /inbound/email``) call ``receive`` and turn its
``Outcome`` into their protocol's answer. ``bounce+``: whose bounce or complaint it is, found
by the signed VERP token of the envelope recipient first; without one (an ESP webhook, a
feedback loop writing to its own address), by a token in the report's headers, then by the
returned original's Message-ID. ``reply+``: a mailed reply, posted by
``discussions.mail_replies``. ``unsubscribe+``: the List-Unsubscribe mailto. Whatever is
wrong with a message, the outcome says so and nothing is written.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import getaddresses

from sqlalchemy.orm import Session

from app.config import Settings
from app.discussions import mail_replies, notifications
from app.inbound import addresses, reports
from app.members import subscriptions, tokens
from app.members.models import Member
from app.ops.metrics import INBOUND_MAIL
from app.sending import bounces
from app.sending.models import Delivery

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # far above any report; a returned issue fits easily

# Outcome statuses, for the edges' answer tables.
RECORDED = "recorded"  # a bounce or complaint was recorded
DUPLICATE = "duplicate"  # this report was recorded before; nothing changed
IGNORED = "ignored"  # read, and rightly not a failure (delay notice, auto-reply…)
POSTED = mail_replies.POSTED  # a mailed reply became a post
REJECTED = mail_replies.REJECTED  # a mailed reply that may not be posted (reason in detail)
RATE_LIMITED = mail_replies.RATE_LIMITED  # a mailed reply refused for now: try again later
UNSUBSCRIBED = "unsubscribed"  # mail to a List-Unsubscribe mailto address
INVALID_ADDRESS = "invalid_address"  # one of our addresses with a forged or damaged token
UNKNOWN_RECIPIENT = "unknown_recipient"  # nothing in it names a member or delivery of ours
UNPARSABLE = "unparsable"  # not a readable message
TOO_LARGE = "too_large"

# The original's Message-ID carries its delivery id (``<i{issue}.d{id}.…@REPLY_DOMAIN>``, see
# sending/messages.py); the stored Message-ID must then match exactly, so a guessed id
# finds nothing. (Looked up by primary key: message_id itself has no index.)
DELIVERY_IN_MESSAGE_ID = re.compile(r"[<.]d(\d{1,18})[.@]")
# Where a reply names its reply+ address when a webhook passes no envelope recipient.
REPLY_HEADERS = ("X-Original-To", "Delivered-To", "To", "Cc")


@dataclass(frozen=True)
class Outcome:
    status: str
    detail: str
    kind: str | None = None  # hard | soft | complaint, when one was recorded
    bounce_id: int | None = None
    post_id: int | None = None  # the post a mailed reply became (or was, for a duplicate)

    def as_dict(self) -> dict[str, str | int]:
        values: dict[str, str | int] = {"status": self.status, "detail": self.detail}
        for name in ("kind", "bounce_id", "post_id"):
            if (value := getattr(self, name)) is not None:
                values[name] = value
        return values


@dataclass(frozen=True)
class _Target:
    member_id: int
    delivery_id: int | None


def screen_recipient(settings: Settings, recipient: str) -> Outcome | None:
    """Why mail to ``recipient`` must be refused before it is sent, or None to accept it.

    Our addresses with a valid token are taken; forged ones and strangers are not. The SMTP
    server asks this at RCPT time, so a refusal costs the sender nothing.
    """
    try:
        address = addresses.parse(settings, recipient)
    except addresses.AddressError as error:
        log.info("mail to a forged or damaged address refused: %s", error)
        return Outcome(INVALID_ADDRESS, f"No such address: {error}.")
    if address is None:
        return Outcome(
            UNKNOWN_RECIPIENT,
            f"Only bounce+, reply+ and unsubscribe+ addresses at {settings.reply_domain} "
            "take mail here.",
        )
    return None


def receive(
    session: Session,
    settings: Settings,
    raw: bytes,
    envelope_recipients: list[str],
    *,
    envelope_sender: str | None = None,
) -> Outcome:
    """Read one message sent to ``envelope_recipients`` and do what its address is for.

    ``envelope_sender`` is SMTP's MAIL FROM where a door knows it ("" for a bounce's null
    sender); a webhook leaves it None and the message's own Return-Path speaks instead.
    """
    if len(raw) > MAX_MESSAGE_BYTES:
        return Outcome(TOO_LARGE, f"Messages above {MAX_MESSAGE_BYTES // 2**20} MB are refused.")
    try:
        address = _envelope_address(settings, envelope_recipients)
    except addresses.AddressError as error:
        log.info("mail to a forged or damaged address refused: %s", error)
        return Outcome(INVALID_ADDRESS, f"No such address: {error}.")
    address = address or _reply_address_in(settings, raw)
    handler = HANDLERS[address.kind if address else None]
    return handler(session, settings, raw, address, envelope_sender)


def after_commit(outcome: Outcome) -> Outcome:
    """Work that waits for the receiving transaction's commit: a posted reply may have
    notifications to mail (the worker's maintenance sends them anyway if this fails)."""
    INBOUND_MAIL.labels(outcome.status).inc()
    if outcome.status == POSTED:
        notifications.enqueue()
    return outcome


def _envelope_address(settings: Settings, recipients: list[str]) -> addresses.Address | None:
    """The first of our addresses among the envelope recipients; a forged one raises."""
    for recipient in recipients:
        if (address := addresses.parse(settings, recipient)) is not None:
            return address
    return None


def _reply_address_in(settings: Settings, raw: bytes) -> addresses.Address | None:
    """A webhook given no envelope recipient: a valid reply+ address among the message's own
    recipients (a reply is addressed to it). Bounce reports are found by ``_target``."""
    try:
        message = reports.read_message(raw)
        found = getaddresses(
            [str(value) for name in REPLY_HEADERS for value in message.get_all(name) or ()]
        )
    except (reports.ReportError, *reports.HEADER_ERRORS):
        return None
    for _, recipient in found:
        try:
            address = addresses.parse(settings, recipient)
        except addresses.AddressError:
            continue
        if address is not None and address.kind == "reply":
            return address
    return None


def _receive_reply(
    session: Session,
    settings: Settings,
    raw: bytes,
    address: addresses.Address,
    envelope_sender: str | None = None,
) -> Outcome:
    """A mailed reply: posted, ignored (an auto-reply) or rejected by ``mail_replies``."""
    try:
        message = reports.read_message(raw)
    except reports.ReportError as error:
        return Outcome(UNPARSABLE, f"Unreadable message: {error}.")
    result = mail_replies.receive(
        session, address.payload, message, raw, envelope_sender=envelope_sender
    )
    return Outcome(result.status, result.detail, post_id=result.post_id)


def _receive_report(
    session: Session,
    settings: Settings,
    raw: bytes,
    address: addresses.Address | None,
    envelope_sender: str | None = None,
) -> Outcome:
    try:
        report = reports.parse(raw)
    except reports.ReportError as error:
        return Outcome(UNPARSABLE, f"Unreadable message: {error}.")
    if report.failure is None:
        return Outcome(IGNORED, f"Nothing to record: {report.note}.")
    target = _target(session, settings, address, report)
    if target is None:
        return Outcome(
            UNKNOWN_RECIPIENT, f"{report.note.capitalize()} that names no member of ours."
        )
    failure = report.failure
    bounce = bounces.record_bounce(
        session,
        member_id=target.member_id,
        delivery_id=target.delivery_id,
        kind=failure.kind,
        status_code=failure.status_code,
        diagnostic=failure.diagnostic,
        report_id=report.report_id,
    )
    if bounce is None:
        return Outcome(DUPLICATE, "This report was recorded before.", kind=failure.kind)
    noun = "complaint" if failure.kind == "complaint" else f"{failure.kind} bounce"
    return Outcome(RECORDED, f"Recorded a {noun}.", kind=failure.kind, bounce_id=bounce.id)


def _unsubscribe(
    session: Session,
    settings: Settings,
    raw: bytes,
    address: addresses.Address | None,
    envelope_sender: str | None = None,
) -> Outcome:
    """Any message to the mailto of List-Unsubscribe stops bulk mail, as the link does."""
    try:
        subscriptions.unsubscribe(session, settings, address.token, source="email", ip=None)
    except tokens.TokenError as error:
        return Outcome(INVALID_ADDRESS, f"No such address: {error}")
    return Outcome(UNSUBSCRIBED, "Unsubscribed: no more issues will be sent to this address.")


HANDLERS: dict[str | None, Callable[..., Outcome]] = {
    "bounce": _receive_report,
    "reply": _receive_reply,
    "unsubscribe": _unsubscribe,
    None: _receive_report,  # no address of ours in the envelope: the report itself must say
}


def _target(
    session: Session, settings: Settings, address: addresses.Address | None, report: reports.Report
) -> _Target | None:
    """Whose failure this is: envelope token, else a token in the report, else Message-ID."""
    payload = address.payload if address is not None else _token_in(settings, report.addresses)
    if payload is not None:
        return _from_token(session, payload)
    return _from_message_id(session, report.original_message_id)


def _token_in(settings: Settings, candidates: tuple[str, ...]) -> dict | None:
    """The first valid bounce token among addresses found in the report (forgeries skipped)."""
    for candidate in candidates:
        try:
            address = addresses.parse(settings, candidate)
        except addresses.AddressError:
            continue
        if address is not None and address.kind == "bounce":
            return address.payload
    return None


def _from_token(session: Session, payload: dict) -> _Target | None:
    member = session.get(Member, payload["m"])
    if member is None:
        return None  # erased since: nobody left to suppress
    delivery = session.get(Delivery, payload["d"])
    matches = delivery is not None and delivery.member_id == member.id
    return _Target(member.id, delivery.id if matches else None)


def _from_message_id(session: Session, message_id: str | None) -> _Target | None:
    found = DELIVERY_IN_MESSAGE_ID.search(message_id or "")
    if found is None:
        return None
    delivery = session.get(Delivery, int(found.group(1)))
    if delivery is None or delivery.member_id is None or delivery.message_id != message_id:
        return None
    return _Target(delivery.member_id, delivery.id)
