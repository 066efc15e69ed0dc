"""Where outgoing mail goes: an SMTP server, or the Maildir outbox by default.

The only module that imports ``smtplib``. A transport hands out a *connection* that is reused
for a whole batch of messages; failures are classified once, here, as temporary (retry later)
or permanent (this recipient will never take it).
"""

from __future__ import annotations

import mailbox
import smtplib
import socket
import ssl
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit


class DeliveryError(Exception):
    """The server did not take a message. ``permanent`` means retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool, code: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.code = code


class Connection(Protocol):
    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None: ...


class Transport(Protocol):
    def connect(self) -> AbstractContextManager[Connection]: ...


@dataclass(frozen=True)
class SMTPTransport:
    """Plain SMTP, SMTPS or SMTP+STARTTLS, from ``smtp[s]://user:pass@host:port[?starttls=1]``."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_ssl: bool = False
    starttls: bool = False
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str) -> SMTPTransport:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"SMTP_URL must look like smtp://user:pass@host:port, not {url!r}")
        query = parse_qs(parts.query)
        use_ssl = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if use_ssl else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_ssl=use_ssl,
            starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
            timeout=float(query.get("timeout", ["30"])[0]),
        )

    @contextmanager
    def connect(self) -> Iterator[SMTPConnection]:
        try:
            if self.use_ssl:
                client = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.starttls:
                client.starttls(context=ssl.create_default_context())
            if self.username:
                client.login(self.username, self.password or "")
        except (OSError, smtplib.SMTPException) as error:
            raise _classify(error) from error
        connection = SMTPConnection(client)
        try:
            yield connection
        finally:
            connection.close()


class SMTPConnection:
    """One open SMTP session, reused for many messages."""

    def __init__(self, client: smtplib.SMTP):
        self._client = client

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None:
        try:
            refused = self._client.sendmail(sender, list(recipients), message)
        except (OSError, smtplib.SMTPException) as error:
            raise _classify(error) from error
        if refused:
            code, reason = next(iter(refused.values()))
            raise DeliveryError(f"{code} {_text(reason)}", permanent=code >= 500, code=code)

    def close(self) -> None:
        try:
            self._client.quit()
        except (OSError, smtplib.SMTPException):
            self._client.close()


def _text(reason: bytes | str) -> str:
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def _classify(error: Exception) -> DeliveryError:
    """5xx answers are permanent; 4xx, timeouts and dropped connections are temporary."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, reason = next(iter(error.recipients.values()))
        return DeliveryError(f"{code} {_text(reason)}", permanent=code >= 500, code=code)
    code = getattr(error, "smtp_code", None)
    if isinstance(code, int) and code > 0:
        message = _text(getattr(error, "smtp_error", b"")) or str(error)
        return DeliveryError(f"{code} {message}", permanent=code >= 500, code=code)
    if isinstance(error, socket.timeout | TimeoutError):
        return DeliveryError("SMTP server timed out", permanent=False)
    return DeliveryError(f"SMTP connection failed: {error}", permanent=False)


@dataclass(frozen=True)
class MaildirTransport:
    """Writes each message into a Maildir, the outbox editors browse at /admin/outbox."""

    path: Path

    @contextmanager
    def connect(self) -> Iterator[MaildirConnection]:
        yield MaildirConnection(mailbox.Maildir(self.path, create=True))


class MaildirConnection:
    def __init__(self, box: mailbox.Maildir):
        self._box = box

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None:
        envelope = (
            f"X-Kith-Envelope-From: {sender}\r\nX-Kith-Envelope-To: {', '.join(recipients)}\r\n"
        ).encode()
        try:
            self._box.add(envelope + message)
        except OSError as error:
            # A full disk is temporary from the sender's point of view: keep the message queued.
            raise DeliveryError(f"outbox write failed: {error}", permanent=False) from error


def transport_for(smtp_url: str | None, outbox_path: Path) -> SMTPTransport | MaildirTransport:
    return SMTPTransport.from_url(smtp_url) if smtp_url else MaildirTransport(outbox_path)
