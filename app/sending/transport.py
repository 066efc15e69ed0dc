"""Where outgoing mail goes: an SMTP server, or the Maildir outbox by default.

The only module that imports ``smtplib``. A transport hands out a *connection* that is reused
for a whole batch of messages; failures are classified once, here, as temporary (retry later)
or permanent (this recipient will never take it).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from app.redaction import without_addresses


class DeliveryError(Exception):
    """The server did not take a message. ``permanent`` means retrying cannot help.

    ``in_doubt``: the whole message was handed over but no answer came back (a dropped line,
    a stall past the timeout), so it may have been accepted; RFC 1047's duplicate window.
    ``enhanced`` is the RFC 3463 status code of the answer when the server gave one (5.1.1).
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: int | None = None,
        in_doubt: bool = False,
    ):
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.in_doubt = in_doubt

    @property
    def enhanced(self) -> str:
        found = _ENHANCED.search(str(self))
        return found.group(0) if found else ""

    @property
    def connection_lost(self) -> bool:
        """No SMTP answer at all: the connection is unusable for further messages."""
        return self.code is None


_ENHANCED = re.compile(r"\b[245]\.\d{1,3}\.\d{1,3}\b")


class Connection(Protocol):
    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None: ...

    def send_prepared(self, sender: str, recipient: str, message: bytes) -> None:
        """Send bytes with CRLF line ends and no line starting with a dot, as they are."""

    def begin(self, sender: str, recipient: str) -> None: ...

    def ready(self) -> None: ...

    def finish(self, message: bytes) -> None: ...

    def abandon(self) -> None: ...


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
            client.ehlo_or_helo_if_needed()
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
        self._envelope = ("", "")

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None:
        try:
            refused = self._client.sendmail(sender, list(recipients), message)
        except (OSError, smtplib.SMTPException) as error:
            raise _classify(error) from error
        if refused:
            code, reason = next(iter(refused.values()))
            raise DeliveryError(f"{code} {_text(reason)}", permanent=code >= 500, code=code)

    def send_prepared(self, sender: str, recipient: str, message: bytes) -> None:
        """One message to one recipient, MAIL/RCPT/DATA pipelined when the server allows.

        ``message`` is already SMTP-safe (see prepared.py), so smtplib's dot-stuffing pass over
        every byte is skipped.
        """
        self.begin(sender, recipient)
        self.ready()
        self.finish(message)

    # The same in three steps, so the sender can do its own work (record the message as on
    # its way) while the server answers MAIL/RCPT/DATA: begin, then ready, then finish, or
    # abandon after ready if the message must not go after all.

    def begin(self, sender: str, recipient: str) -> None:
        """Put MAIL, RCPT and DATA on the wire (pipelined, RFC 2920), without waiting."""
        self._envelope = (sender, recipient)
        if self._pipelining:
            commands = f"MAIL FROM:<{sender}>\r\nRCPT TO:<{recipient}>\r\nDATA\r\n"
            try:
                self._client.send(commands.encode())
            except (OSError, smtplib.SMTPException) as error:
                raise _classify(error) from error

    def ready(self) -> None:
        """Read the answers to ``begin``: the server now waits for the message, or this raises.

        Failures here are plain temporary or permanent errors: nothing was accepted yet.
        """
        client = self._client
        sender, recipient = self._envelope
        try:
            if self._pipelining:
                replies = [client.getreply() for _ in range(3)]
            else:
                replies = []
                for command in (f"MAIL FROM:<{sender}>", f"RCPT TO:<{recipient}>", "DATA"):
                    client.send(command.encode() + b"\r\n")
                    replies.append(client.getreply())
                    if replies[-1][0] >= 400:
                        break
        except (OSError, smtplib.SMTPException) as error:
            raise _classify(error) from error
        for (code, reply), expected in zip(replies, (250, 250, 354), strict=False):
            if code != expected and not (expected == 250 and code == 251):
                self._reset()
                raise DeliveryError(f"{code} {_text(reply)}", permanent=code >= 500, code=code)

    def finish(self, message: bytes) -> None:
        """Send the message and its final dot; a missing answer leaves it ``in_doubt``."""
        client = self._client
        try:
            client.send(message + b".\r\n")
        except (OSError, smtplib.SMTPException) as error:
            raise _classify(error) from error  # without its final dot nothing was accepted
        try:
            code, reply = client.getreply()
        except (OSError, smtplib.SMTPException) as error:
            doubtful = _classify(error)
            doubtful.in_doubt = doubtful.code is None
            raise doubtful from error
        if code != 250:
            raise DeliveryError(f"{code} {_text(reply)}", permanent=code >= 500, code=code)

    def abandon(self) -> None:
        """Drop the line while the server waits for the message: without the final dot it
        delivers nothing (RFC 5321 §4.1.1.4). The connection is unusable afterwards."""
        self._client.close()

    @property
    def _pipelining(self) -> bool:
        return self._client.has_extn("pipelining")

    def _reset(self) -> None:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            self._client.rset()  # if the line is dead, the next command says so

    def close(self) -> None:
        try:
            self._client.quit()
        except (OSError, smtplib.SMTPException):
            self._client.close()


def _text(reason: bytes | str) -> str:
    """A server's answer as text, without the addresses it quotes (app/redaction.py)."""
    text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    return without_addresses(text)


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
        # mailbox creates tmp/new/cur only with the folder itself; an outbox folder that
        # already exists empty (made by hand, a mount point) would refuse every message.
        try:
            for sub in ("tmp", "new", "cur"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DeliveryError(f"outbox unusable: {error}", permanent=False) from error
        yield MaildirConnection(self.path)


_unique = itertools.count()  # with time, pid and host: a file name no other writer uses
_HOST = socket.gethostname().replace("/", "\\057").replace(":", "\\072")


class MaildirConnection:
    def __init__(self, path: Path):
        self._path = path
        self._envelope = ("", "")

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None:
        envelope = (
            f"X-Kith-Envelope-From: {sender}\r\nX-Kith-Envelope-To: {', '.join(recipients)}\r\n"
        ).encode()
        try:
            self._deliver(envelope + message)
        except OSError as error:
            # A full disk is temporary from the sender's point of view: keep the message queued.
            raise DeliveryError(f"outbox write failed: {error}", permanent=False) from error

    def _deliver(self, data: bytes) -> None:
        """Write into tmp/, flush to disk, then rename into new/ (the Maildir protocol), all or
        nothing. mailbox.Maildir.add leaves a half-written file in tmp/ when the disk fills
        while it flushes; here a failed write removes its file."""
        now = time.time()
        name = f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{next(_unique)}.{_HOST}"
        temporary = self._path / "tmp" / name
        try:
            with open(temporary, "xb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.rename(temporary, self._path / "new" / name)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def send_prepared(self, sender: str, recipient: str, message: bytes) -> None:
        self.send(sender, [recipient], message)

    def begin(self, sender: str, recipient: str) -> None:
        self._envelope = (sender, recipient)

    def ready(self) -> None:
        return None

    def finish(self, message: bytes) -> None:
        sender, recipient = self._envelope
        self.send(sender, [recipient], message)

    def abandon(self) -> None:
        return None


def transport_for(smtp_url: str | None, outbox_path: Path) -> SMTPTransport | MaildirTransport:
    return SMTPTransport.from_url(smtp_url) if smtp_url else MaildirTransport(outbox_path)
