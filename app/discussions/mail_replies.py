"""Mailed replies: a message to ``reply+TOKEN@REPLY_DOMAIN`` becomes a post in the thread the
token names, through ``service.create_post`` like a reply on the web.

The token (verified by ``inbound.addresses`` before this runs) says who and where: an issue
email's token ``{"m", "i"}`` posts top-level in the issue's thread, private feedback unless the
issue shows mailed replies (``Issue.mailed_replies``); a notification's ``{"m", "t", "p"}``
replies to post ``p`` of thread ``t``, private when that conversation is. The sender must be
the token's member (unless ``Publication.replies_from_any_address``): a forwarded email must
not let its reader post as someone else. Auto-replies and bounces are taken and dropped, never
answered with an error (that would start a mail loop). Whatever is refused writes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.discussions import mail_text, reply_text, service
from app.discussions.models import Post, Thread
from app.issues import service as issues
from app.issues.models import Issue
from app.members import access
from app.members.models import Member
from app.sending.bounces import storable

log = logging.getLogger(__name__)

# Result statuses (the inbound doors turn them into SMTP and HTTP answers).
POSTED = "posted"
DUPLICATE = "duplicate"  # this very message was posted before (a redelivery)
IGNORED = "ignored"  # an auto-reply, a bounce, or nothing new in it: taken, nothing posted
REJECTED = "rejected"  # not posted, for the reason given; the sender should be told
RATE_LIMITED = "rate_limited"  # not now: the sender's server may try again later
UNREADABLE = "unparsable"  # a MIME structure that cannot be read

MESSAGE_ID_LENGTH = 500  # Post.message_id's column; longer ids are stored as their hash
# What the stdlib's header and content parsers raise on some malformed input.
MIME_ERRORS = (ValueError, IndexError, TypeError, AttributeError, LookupError, KeyError)

# At the start of the Subject only: "Re: Out of office culture" is a person answering.
OUT_OF_OFFICE = re.compile(
    r"^\s*(?:out of (?:the )?office|automatic reply|auto(?:matic)?[ -]?(?:reply|response)"
    r"|vacation (?:reply|response)|autosvar|abwesenheitsnotiz|automatische antwort"
    r"|réponse automatique|absent(?:e)? du bureau|respuesta automática|fuera de la oficina"
    r"|automatisch antwoord|afwezigheidsmelding|risposta automatica|fuori sede"
    r"|resposta automática|fora do escritório)",
    re.IGNORECASE,
)
BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
# Not "postmaster": that is also a person's address at small organisations, and bounces from
# one carry a null sender or a multipart/report anyway.
DAEMONS = {"mailer-daemon", "mailerdaemon", "mail-daemon"}


@dataclass(frozen=True)
class Result:
    status: str
    detail: str
    post_id: int | None = None


class _NotPosted(Exception):
    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def _present(value: str) -> bool:
    return True


# header → (does this value make the message machine-written?, why it is ignored)
AUTOMATIC: dict[str, tuple[Callable[[str], Any], str]] = {
    "Auto-Submitted": (
        lambda value: value.partition(";")[0].strip().lower() not in ("", "no"),
        "an automatic message (Auto-Submitted)",
    ),
    "X-Autoreply": (_present, "an auto-reply (X-Autoreply)"),
    "X-Autorespond": (_present, "an auto-reply (X-Autorespond)"),
    "X-Auto-Response-Suppress": (_present, "an automatic message (X-Auto-Response-Suppress)"),
    "Precedence": (
        lambda value: value.strip().lower() in BULK_PRECEDENCE,
        "bulk or automatic mail (Precedence)",
    ),
    "Subject": (OUT_OF_OFFICE.match, "an out-of-office reply"),
    "Content-Type": (
        lambda value: value.strip().lower().startswith("multipart/report"),
        "a delivery report (a bounce)",
    ),
    "Return-Path": (lambda value: value.strip() == "<>", "a bounce (empty return path)"),
    "From": (
        lambda value: _local_part(value) in DAEMONS,
        "a bounce (from a mailer daemon)",
    ),
}


def receive(
    session: Session,
    payload: dict[str, int],
    message: EmailMessage,
    raw: bytes,
    *,
    envelope_sender: str | None = None,
    now: datetime | None = None,
) -> Result:
    """Post ``message``, mailed to the reply address whose verified token is ``payload``."""
    try:
        mail = _read(message, raw, envelope_sender)
    except MIME_ERRORS as error:  # a header or part the stdlib cannot read
        result = Result(UNREADABLE, f"The reply could not be read ({type(error).__name__}).")
    else:
        try:
            result = _post(session, payload, mail, now)
        except _NotPosted as refusal:
            result = Result(refusal.status, refusal.detail)
    if result.status not in (POSTED, DUPLICATE):
        log.info(
            "mailed reply of member %s not posted (%s): %s",
            payload.get("m"),
            result.status,
            result.detail,
        )
    return result


@dataclass(frozen=True)
class _Mail:
    """What the decision needs from a message, read once (where malformed MIME shows)."""

    automatic: str | None  # why a machine wrote it, None when a person did
    sender: str | None  # From's one addr-spec, lower-cased
    message_id: str
    text: str  # the new words
    attachments: int


def _read(message: EmailMessage, raw: bytes, envelope_sender: str | None) -> _Mail:
    return _Mail(
        automatic=automatic_reason(message, envelope_sender),
        sender=_from_address(message),
        message_id=_message_id(message, raw),
        text=storable(reply_text.new_words(mail_text.body_text(message))),
        attachments=mail_text.attachment_count(message),
    )


def _post(session: Session, payload: dict[str, int], mail: _Mail, now: datetime | None) -> Result:
    if mail.automatic is not None:
        return Result(IGNORED, f"Not posted: {mail.automatic}.")
    member = _sender(session, payload["m"], mail.sender)
    if (existing := _posted(session, mail.message_id)) is not None:
        return Result(DUPLICATE, "This reply was posted before.", existing)
    if not mail.text:
        return Result(IGNORED, "Not posted: nothing new in the reply (only quoted text).")
    try:
        with session.begin_nested():  # a refusal leaves nothing, not even a new thread
            thread, parent_id, private = _destination(session, member, payload)
            post = service.create_post(
                session,
                member,
                thread,
                mail.text,
                parent_id=parent_id,
                source="email",
                private=private,
                message_id=mail.message_id,
                now=now,
            )
    except service.PostRefused as refused:
        status = RATE_LIMITED if refused.reason == "rate-limited" else REJECTED
        return Result(status, f"Your reply was not posted: {refused}")
    except IntegrityError:  # the same mail delivered twice at once: the other copy posted
        if (existing := _posted(session, mail.message_id)) is None:
            raise
        return Result(DUPLICATE, "This reply was posted before.", existing)
    where = "as private feedback" if private else "in the discussion"
    note = " Attachments are not posted." if mail.attachments else ""
    return Result(POSTED, f"Your reply was posted {where}.{note}", post.id)


def automatic_reason(message: EmailMessage, envelope_sender: str | None = None) -> str | None:
    """Why ``message`` was written by a machine (an auto-reply, a bounce), None if by a person.

    RFC 3834 ``Auto-Submitted``, the vendor headers and ``Precedence`` that autoresponders set,
    out-of-office subjects in several languages (only at the start: "Re: Out of office" is a
    person answering an issue of that name), and bounces: a null envelope sender or
    ``Return-Path: <>``, a ``multipart/report``, a mailer daemon's From.
    """
    if envelope_sender is not None and envelope_sender.strip() in ("", "<>"):
        return "a bounce (null envelope sender)"
    for name, (matches, reason) in AUTOMATIC.items():
        if any(matches(str(value)) for value in message.get_all(name) or ()):
            return reason
    return None


def _local_part(value: str) -> str:
    return value.rpartition("<")[2].rstrip(">").strip().partition("@")[0].lower()


def _sender(session: Session, member_id: int, sender: str | None) -> Member:
    """The token's member, if the message (from ``sender``) is theirs to post."""
    member = session.get(Member, member_id)
    if member is None:
        raise _NotPosted(REJECTED, "This reply address belongs to nobody here any more.")
    if member.status == "pending":
        raise _NotPosted(REJECTED, "Confirm your email address first, then reply again.")
    if issues.publication(session).replies_from_any_address:
        return member
    if sender != member.email.lower():
        raise _NotPosted(
            REJECTED, "Replies to this address must come from the address the email was sent to."
        )
    return member


def _from_address(message: EmailMessage) -> str | None:
    """The one address in From (its addr-spec, lower-cased); None for none or several."""
    found = [
        address.addr_spec
        for header in message.get_all("From") or ()
        for address in getattr(header, "addresses", ())
        if address.username and address.domain
    ]
    return found[0].lower() if len(found) == 1 else None


def _message_id(message: EmailMessage, raw: bytes) -> str:
    """What makes a redelivered mail post once: its Message-ID, else a hash of its bytes."""
    # The raw field, not the stdlib's parse of it: a malformed id is still an id, where the
    # parser would raise and make the whole reply unreadable.
    raw_ids = (value for name, value in message.raw_items() if name.lower() == "message-id")
    given = " ".join(str(next(raw_ids, "")).split())
    if given and len(given) <= MESSAGE_ID_LENGTH and storable(given) == given:
        return given
    # A NUL or undecodable 8-bit byte in the id: a database would refuse it, its hash is fine.
    encoded = given.encode("utf-8", "surrogateescape") if given else raw
    return "sha256:" + hashlib.sha256(encoded).hexdigest()


def _posted(session: Session, message_id: str) -> int | None:
    return session.scalar(select(Post.id).where(Post.message_id == message_id))


def _destination(
    session: Session, member: Member, payload: dict[str, int]
) -> tuple[Thread, int | None, bool]:
    """(thread, parent post id, private) for the token: the issue's thread, or the thread and
    post a notification named. A reply in a private conversation stays private."""
    if "i" in payload:
        issue = session.get(Issue, payload["i"])
        if issue is None:
            raise _NotPosted(REJECTED, "The issue this reply answers no longer exists.")
        private = issue.mailed_replies != "public"
        return service.issue_thread(session, issue), None, private
    thread = session.get(Thread, payload["t"])
    if thread is None:
        raise _NotPosted(REJECTED, "The discussion this reply answers no longer exists.")
    if "p" not in payload:
        return thread, None, False
    parent = session.get(Post, payload["p"])
    if parent is None or parent.thread_id != thread.id or parent.status == "deleted":
        raise _NotPosted(REJECTED, "The post this reply answers is no longer there.")
    starter = session.get(Post, parent.parent_id) if parent.parent_id else parent
    # The conversation must be the member's to see: the post itself, or (for an editor's
    # private answer to their feedback) the feedback it answers.
    if not any(post and access.can_see_post(member, post) for post in (parent, starter)):
        raise _NotPosted(REJECTED, "The post this reply answers is no longer there.")
    return thread, parent.id, parent.private or bool(starter and starter.private)
