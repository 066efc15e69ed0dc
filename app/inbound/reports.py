"""Reading bounce and complaint reports out of raw RFC 5322 bytes, with the stdlib ``email``.

Three shapes arrive at a return path:
- RFC 3464 delivery status notifications (``multipart/report; report-type=delivery-status``):
  per-recipient ``Action`` / ``Status`` / ``Diagnostic-Code``, and the returned message
  (``message/rfc822``) or its headers (``text/rfc822-headers``) naming the original.
- RFC 5965 ARF complaints (``report-type=feedback-report``); ``Feedback-Type: abuse`` is a
  complaint, other types are not.
- Bounces in no standard format (qmail, old Exchange, small hosts): recognised by their
  sender or subject, with the codes read from the text. Anything else (auto-replies, spam,
  someone writing to the return path) is "not a failure" and must never count as a bounce.
Nothing here touches the database: ``parse`` only says what a report claims.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email import errors, policy
from email.message import EmailMessage, Message
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses, parseaddr

from app.sending import bounces


class ReportError(ValueError):
    """Bytes that are not a readable message: empty, headerless or with broken MIME."""


@dataclass(frozen=True)
class Failure:
    """What a report says happened to our message."""

    kind: str  # "hard" | "soft" | "complaint"
    status_code: str = ""
    diagnostic: str = ""


@dataclass(frozen=True)
class Report:
    # The report's own Message-ID (else a hash of its bytes): the same report twice counts once.
    report_id: str
    failure: Failure | None  # None: a delay notice, a success notice, an auto-reply…
    note: str  # what kind of report this is, in a few words
    original_message_id: str | None = None
    # Where a VERP token may be written besides the envelope: the report's own recipient
    # headers, an ARF ``Original-Mail-From``, the returned original's ``Return-Path``.
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Reading:
    failure: Failure | None
    note: str
    addresses: tuple[str, ...] = ()


# The MIME defects that leave no trustworthy structure to read.
BROKEN_MIME = (
    errors.NoBoundaryInMultipartDefect,
    errors.StartBoundaryNotFoundDefect,
    errors.MultipartInvariantViolationDefect,
)
# Header values the stdlib's parsers can choke on raise these rather than record a defect.
HEADER_ERRORS = (ValueError, IndexError, TypeError, AttributeError, LookupError)
# The stdlib's parser (policy.default) takes ~1 ms per MIME part: ten thousand parts would hold
# a web worker for ten seconds. No report or reply has more than a handful; a boundary line
# starts every part, so counting lines that begin with "--" bounds the parts before parsing.
MAX_MIME_PARTS = 500
TEXT_SCAN_LIMIT = 200_000  # characters of a non-standard bounce searched for codes

MACHINE_PARTS = {
    "message/delivery-status": "delivery-status",
    "message/global-delivery-status": "delivery-status",  # RFC 6533, internationalized
    "message/feedback-report": "feedback-report",
    "message/disposition-notification": "disposition-notification",
}
RECIPIENT_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "To")
DAEMONS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon")
BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|returned to sender|delivery (status notification|failure|"
    r"has failed|failed)|failure notice|mail delivery failed|could not be delivered|"
    r"non-?delivery",
    re.IGNORECASE,
)
ENHANCED_CODE = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
SMTP_CODE = re.compile(r"(?<![\d.])([245]\d\d)(?=[ -])")
BODY_MESSAGE_ID = re.compile(r"^Message-ID:\s*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
DIAGNOSTIC_TYPE = re.compile(r"^\s*[\w-]+\s*;\s*")  # "smtp; 550 …" → "550 …"


def parse(raw: bytes) -> Report:
    """What ``raw`` reports. Raises ReportError when it cannot be read as a message."""
    message = read_message(raw)
    try:
        reading = READERS.get(_report_type(message), _read_text_bounce)(message)
        original = _original_headers(message)
    except HEADER_ERRORS as error:  # the stdlib's parsers still raise on some malformed input
        raise ReportError(f"the message could not be read ({type(error).__name__})") from error
    original_id = _header(original, "Message-ID") if original is not None else ""
    if not original_id and reading.failure is not None:
        found = BODY_MESSAGE_ID.search(_plain_text(message))
        original_id = found.group(1) if found else ""
    addresses = [_header(message, name) for name in RECIPIENT_HEADERS]
    addresses += reading.addresses
    if original is not None:
        addresses.append(_header(original, "Return-Path"))
    return Report(
        report_id=_header(message, "Message-ID").strip() or _digest(raw),
        failure=reading.failure,
        note=reading.note,
        original_message_id=original_id.strip() or None,
        addresses=tuple(
            dict.fromkeys(address for _, address in getaddresses(addresses) if address)
        ),
    )


def _digest(raw: bytes) -> str:
    """An id for a report without a Message-ID: a retried webhook sends the same bytes."""
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def read_message(raw: bytes) -> EmailMessage:
    """``raw`` parsed (``policy.default``); ReportError when it is empty, headerless or its
    MIME structure is broken, so nothing downstream reads a guess."""
    if not raw or not raw.strip():
        raise ReportError("the message is empty")
    if raw.count(b"\n--") > 2 * MAX_MIME_PARTS:
        raise ReportError(f"the message has more than {MAX_MIME_PARTS} MIME parts")
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except HEADER_ERRORS as error:
        raise ReportError(f"the message could not be read ({type(error).__name__})") from error
    if not message.keys():
        raise ReportError("the message has no header fields")
    for part in message.walk():
        broken = [defect for defect in part.defects if isinstance(defect, BROKEN_MIME)]
        if broken:
            raise ReportError(
                f"the message's MIME structure is broken ({type(broken[0]).__name__})"
            )
    return message


def _report_type(message: Message) -> str | None:
    """The declared ``report-type`` of a multipart/report, else the machine part present."""
    if message.get_content_type() == "multipart/report":
        declared = str(message.get_param("report-type") or "").lower()
        if declared in READERS:
            return declared
    for part in message.walk():
        if found := MACHINE_PARTS.get(part.get_content_type()):
            return found
    return None


def _read_dsn(message: Message) -> _Reading:
    """RFC 3464: the first recipient whose Action is ``failed`` decides."""
    part = _first_part(
        message, {t for t, kind in MACHINE_PARTS.items() if kind == "delivery-status"}
    )
    recipients = _blocks(part)[1:] if part is not None else []
    if not recipients:
        return _read_text_bounce(message)  # a DSN without recipient fields: read its words
    actions = [_header(block, "Action").strip().lower() for block in recipients]
    if "failed" not in actions:
        if "delayed" in actions:
            return _Reading(None, "a delay notice: the sending server is still trying")
        return _Reading(None, "a delivery notification that reports no failure")
    failed = recipients[actions.index("failed")]
    diagnostic = " ".join(DIAGNOSTIC_TYPE.sub("", _header(failed, "Diagnostic-Code")).split())
    status = _first(ENHANCED_CODE, _header(failed, "Status")) or _first(ENHANCED_CODE, diagnostic)
    kind = bounces.classify(status, _first(SMTP_CODE, diagnostic))
    return _Reading(Failure(kind, status, diagnostic), "a delivery status notification")


def _read_arf(message: Message) -> _Reading:
    """RFC 5965: ``Feedback-Type: abuse`` is a complaint; fraud, virus, not-spam… are not."""
    part = _first_part(message, {"message/feedback-report"})
    fields = _blocks(part)[:1] if part is not None else []
    if not fields:
        return _Reading(None, "a feedback report without its machine-readable part")
    feedback_type = _header(fields[0], "Feedback-Type").strip().lower()
    if feedback_type != "abuse":
        shown = re.sub(r"[^a-z0-9-]", "", feedback_type)[:40] or "none"
        return _Reading(None, f"a feedback report of type {shown}, which is not a complaint")
    agent = _header(fields[0], "User-Agent").strip()
    diagnostic = f"abuse report from {agent}" if agent else "abuse report"
    return _Reading(
        Failure("complaint", "", diagnostic),
        "an abuse complaint",
        (_header(fields[0], "Original-Mail-From"),),
    )


def _read_receipt(message: Message) -> _Reading:
    return _Reading(None, "a read receipt, not a bounce")


def _read_text_bounce(message: Message) -> _Reading:
    """A bounce in no standard format, known by its sender or subject; codes from its text."""
    sender = parseaddr(_header(message, "From"))[1].partition("@")[0].lower()
    if sender not in DAEMONS and not BOUNCE_SUBJECT.search(_header(message, "Subject")):
        return _Reading(None, "not a bounce or a complaint (an auto-reply or other mail)")
    text = _plain_text(message)
    status, smtp_code = _first(ENHANCED_CODE, text), _first(SMTP_CODE, text)
    code = status or smtp_code
    diagnostic = _line_with(text, code) if code else _header(message, "Subject")
    kind = bounces.classify(status, smtp_code)
    return _Reading(Failure(kind, status, diagnostic), "a bounce in no standard format")


READERS = {
    "delivery-status": _read_dsn,
    "feedback-report": _read_arf,
    "disposition-notification": _read_receipt,
}


def _first_part(message: Message, types: set[str]) -> Message | None:
    return next((part for part in message.walk() if part.get_content_type() in types), None)


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a machine-readable part (blank-line separated, RFC 3464 § 2).

    The stdlib splits ``message/delivery-status`` into blocks itself; other ``message/*``
    types arrive as one message whose body holds the remaining blocks.
    """
    payload = part.get_payload()
    if isinstance(payload, list) and len(payload) > 1:
        return payload
    if isinstance(payload, list):
        text = payload[0].as_string() if payload else ""
    else:
        text = str(payload or "")
    chunks = re.split(r"\r?\n[ \t]*\r?\n", text)
    return [
        HeaderParser(policy=policy.default).parsestr(chunk) for chunk in chunks if chunk.strip()
    ]


def _original_headers(message: Message) -> Message | None:
    """The returned original (or its headers), which names our Message-ID and return path."""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            return payload[0] if isinstance(payload, list) and payload else None
        if content_type == "text/rfc822-headers":
            return HeaderParser(policy=policy.default).parsestr(_text_of(part))
    return None


def _plain_text(message: Message) -> str:
    texts = (_text_of(part) for part in message.walk() if part.get_content_type() == "text/plain")
    return "\n".join(texts)[:TEXT_SCAN_LIMIT]


def _text_of(part: Message) -> str:
    """A text part's content; an unknown charset or bad encoding is read as UTF-8, replaced.
    (ValueError covers UnicodeError and a charset name with a NUL in it.)"""
    try:
        return part.get_content()
    except (LookupError, ValueError, AttributeError, KeyError):
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def _header(message: Message, name: str) -> str:
    """A header as text, "" when absent or unreadable (some values make the parser raise)."""
    try:
        value = message.get(name)
    except HEADER_ERRORS:
        return ""
    return bounces.storable(str(value)) if value is not None else ""


def _first(pattern: re.Pattern[str], text: str) -> str:
    found = pattern.search(text or "")
    return found.group(1) if found else ""


def _line_with(text: str, needle: str) -> str:
    """The line of ``text`` that holds ``needle``, trimmed: the diagnostic of a text bounce."""
    line = next((line for line in text.splitlines() if needle in line), "")
    return " ".join(line.split())[:500]
