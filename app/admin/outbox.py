"""Reading the Maildir outbox, where mail goes when no SMTP server is configured."""

from __future__ import annotations

import mailbox
from dataclasses import dataclass, replace
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path

from flask import current_app

_PARSER = BytesParser(policy=policy.default)


@dataclass(frozen=True)
class OutboxMessage:
    key: str
    subject: str
    to: str
    sent: str
    text: str = ""
    html: str = ""
    headers: tuple[tuple[str, str], ...] = ()


def _box() -> mailbox.Maildir | None:
    path: Path = current_app.extensions["kith.settings"].outbox_path
    return mailbox.Maildir(path, create=False) if (path / "new").is_dir() else None


def _summary(key: str, message: EmailMessage) -> OutboxMessage:
    return OutboxMessage(
        key=key,
        subject=str(message.get("Subject", "(no subject)")),
        to=str(message.get("To", "")),
        sent=str(message.get("Date", "")),
    )


def _sort_key(item: OutboxMessage) -> float:
    try:
        return parsedate_to_datetime(item.sent).timestamp()
    except (TypeError, ValueError):
        return 0.0


def recent(limit: int) -> list[OutboxMessage]:
    """The newest ``limit`` messages, newest first."""
    box = _box()
    if box is None:
        return []
    items = []
    for key in box.iterkeys():
        handle = box.get_file(key)
        try:  # headers only: the list must stay fast with thousands of messages
            items.append(_summary(key, _PARSER.parse(handle, headersonly=True)))
        finally:
            handle.close()
    return sorted(items, key=_sort_key, reverse=True)[:limit]


def read(key: str) -> OutboxMessage | None:
    box = _box()
    if box is None:
        return None
    try:
        raw = box.get_bytes(key)
    except KeyError:
        return None
    message = _PARSER.parsebytes(raw)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return replace(
        _summary(key, message),
        text=text.get_content() if text is not None else "",
        html=html.get_content() if html is not None else "",
        headers=tuple((name, str(value)) for name, value in message.items()),
    )
