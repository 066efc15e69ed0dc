"""DKIM signatures on outgoing mail, when ``DKIM_SELECTOR`` and ``DKIM_PRIVATE_KEY_PATH`` are set.

The signature covers the headers receivers and RFC 8058 care about, List-Unsubscribe and
List-Unsubscribe-Post included, so a forwarder cannot swap the unsubscribe link unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr

import dkim

from app.config import Settings

SIGNED_HEADERS = (
    b"From", b"To", b"Subject", b"Date", b"Message-ID", b"Reply-To", b"MIME-Version",
    b"Content-Type", b"List-Unsubscribe", b"List-Unsubscribe-Post",
)  # fmt: skip


class SigningError(Exception):
    """DKIM is configured but cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class DKIMSigner:
    selector: bytes
    domain: bytes
    private_key: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> DKIMSigner | None:
        if not settings.dkim_selector and not settings.dkim_private_key_path:
            return None
        if not (settings.dkim_selector and settings.dkim_private_key_path):
            raise SigningError("set both DKIM_SELECTOR and DKIM_PRIVATE_KEY_PATH, or neither")
        try:
            key = settings.dkim_private_key_path.read_bytes()
        except OSError as error:
            raise SigningError(f"DKIM_PRIVATE_KEY_PATH cannot be read: {error}") from error
        domain = parseaddr(settings.mail_from)[1].rpartition("@")[2]
        return cls(settings.dkim_selector.encode(), domain.encode(), key)

    def sign(self, message: bytes) -> bytes:
        """The message with its DKIM-Signature header in front."""
        present = {
            line.split(b":", 1)[0].strip().lower()
            for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        }
        headers = [name for name in SIGNED_HEADERS if name.lower() in present]
        signature = dkim.sign(
            message, self.selector, self.domain, self.private_key,
            canonicalize=(b"relaxed", b"relaxed"), include_headers=headers,
        )  # fmt: skip
        return signature + message
