"""Discussion mail (reply notifications, daily digests): each claimed row mailed exactly once.

Every message is claimed, sent and marked done in one transaction, and the claim is held
while the SMTP server takes the message: a row lock on PostgreSQL (the claim's
``FOR UPDATE SKIP LOCKED`` or conditional UPDATE), the write lock on SQLite. So two workers
never mail the same row, and a crash after the server took a message but before the commit
leaves the row unclaimed: it goes once more, never twice more and never not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formataddr

from flask import current_app
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import transaction
from app.issues import service as issues
from app.sending import mailer
from app.sending.prepared import header_text
from app.sending.transport import DeliveryError

log = logging.getLogger(__name__)

NOTHING = "nothing"  # claimed and done, with nothing to mail (preferences, gone, nothing new)
TAKEN = "taken"  # done before, or being done by another worker right now
PREFERENCES_PATH = "/account#prefs-title"  # where a member turns these emails off
RECONNECTS = 3  # fresh connections per run after one dies mid-run


@dataclass(frozen=True)
class Outgoing:
    """One message to render and send: the template, its values, the extra header lines."""

    to_name: str
    to_address: str
    subject: str
    template: str
    context: dict[str, object]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Tally:
    sent: int = 0
    nothing: int = 0
    refused: int = 0  # the server refused the address for good: not tried again
    uncertain: int = 0  # handed over, no answer: it may have arrived, so it is not tried again
    deferred: int = 0  # a temporary failure: left for the next run


Prepare = Callable[[Session, int], Outgoing | str]


class _Deferred(Exception):
    def __init__(self, error: DeliveryError):
        super().__init__(str(error))
        self.error = error


def deliver_each(keys: Iterable[int], prepare: Prepare) -> Tally:
    """For each key: ``prepare`` claims its row and says what to mail (or NOTHING or TAKEN);
    the message goes over an SMTP connection kept for the run, then the claim commits.

    A temporary failure rolls the claim back (the next run tries again). A connection that
    dies is opened again, a few times, so one message the server chokes on cannot hold up
    the rest. Failing to connect raises ``DeliveryError``, with that row left unclaimed.
    """
    tally, waiting = Tally(), list(keys)
    settings: Settings = current_app.extensions["kith.settings"]
    for _ in range(RECONNECTS + 1):
        if not waiting:
            break
        with mailer.transport().connect() as connection:
            while waiting and _deliver_next(connection, settings, waiting.pop(0), prepare, tally):
                pass
    return tally


def _deliver_next(connection, settings: Settings, key: int, prepare: Prepare, tally: Tally) -> bool:
    """Deliver one row and count its outcome; False when the connection is no use any more."""
    try:
        with transaction(immediate=True) as session:
            outcome = _deliver_one(session, connection, settings, key, prepare)
    except _Deferred as deferred:
        tally.deferred += 1
        log.warning("discussion mail %s deferred: %s", key, deferred.error)
        return not deferred.error.connection_lost
    if outcome != TAKEN:
        setattr(tally, outcome, getattr(tally, outcome) + 1)
    return outcome != "uncertain"  # no answer came: the line is dead


def _deliver_one(session: Session, connection, settings: Settings, key: int, prepare) -> str:
    outgoing = prepare(session, key)
    if isinstance(outgoing, str):
        return outgoing
    message = compose(session, settings, outgoing)
    try:
        connection.send(settings.mail_from_address, [outgoing.to_address], message)
    except DeliveryError as error:
        if error.permanent:
            log.warning("discussion mail %s refused for good: %s", key, error)
            return "refused"
        if error.in_doubt:
            log.warning("discussion mail %s may have arrived: %s", key, error)
            return "uncertain"
        raise _Deferred(error) from error
    return "sent"


def publication_name(session: Session, settings: Settings) -> str:
    return issues.publication(session).name or settings.publication_name


one_line = header_text  # no line break, no encoded word: no header injection


def compose(session: Session, settings: Settings, outgoing: Outgoing) -> bytes:
    """The message as bytes, DKIM-signed when configured, with the publication's name."""
    publication = publication_name(session, settings)
    body = mailer.templates().render(
        outgoing.template,
        publication=publication,
        preferences_url=settings.url(PREFERENCES_PATH),
        **outgoing.context,
    )
    headers = {
        # RFC 3834: an automatic message; out-of-office robots should not answer it.
        "Auto-Submitted": "auto-generated",
        "List-Unsubscribe": f"<{settings.url(PREFERENCES_PATH)}>",
        **outgoing.headers,
    }
    message = mailer.build_message(
        settings,
        to=formataddr((one_line(outgoing.to_name), outgoing.to_address)),
        subject=one_line(outgoing.subject),
        body=body,
        headers=headers,
    )
    return mailer.signed(message.as_bytes())
