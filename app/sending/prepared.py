"""Issue email encoded once per variant, then personalized per recipient by joining bytes.

``EmailMessage.as_bytes()`` costs about 3.4 ms for a 35 KB issue; a send to 100,000 members
would spend minutes in it. So each variant (full, teaser) is MIME-encoded once: the
quoted-printable body is cut where the unsubscribe link and the feedback token go, and each
recipient's message is the static pieces joined with their own header lines and links (tens of
microseconds).

Two invariants make the result safe to hand to SMTP untouched (tests parse every variant back
with the stdlib parser and verify DKIM with dkimpy):
- every line ends in CRLF and no line starts with ``.`` (a leading dot is encoded ``=2E``), so
  the transport may skip smtplib's dot-stuffing pass;
- the cuts fall on quoted-printable soft line breaks (``=`` CRLF), which decode to nothing, so
  each link is a whole line of its own and the pieces' DKIM canonical forms can be prepared.
"""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass
from email import policy, quoprimime
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from app.sending.signing import BulkSigner, relaxed_lines

LINK_MARKER = "%%KITH_UNSUBSCRIBE_URL%%"
FEEDBACK_MARKER = "%%KITH_FEEDBACK_TOKEN%%"  # the recipient's token in one-click rating links
# Where a recipient's open-and-click token goes (app/insights/tracking.py), when counting is on.
TRACK_MARKER = "%%KITH_TRACK%%"
_MARKERS = (LINK_MARKER, FEEDBACK_MARKER, TRACK_MARKER)
_SPLIT = re.compile("(" + "|".join(re.escape(marker) for marker in _MARKERS) + ")")
QP_LINE = 74  # 76 allowed; room for a leading "=2E"
SOFT_BREAK = b"=\r\n"
# CRLF line ends, and no folding under RFC 5322's 998 characters.
MAIL_POLICY = policy.SMTP.clone(max_line_length=998)
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


def _qp(text: str) -> bytes:
    """Quoted-printable with CRLF line ends and no line starting with a dot."""
    # The encoder escapes code points; passing UTF-8 bytes as Latin-1 makes them bytes.
    latin = text.encode("utf-8").decode("latin-1")
    encoded = quoprimime.body_encode(latin, maxlinelen=QP_LINE, eol="\r\n").encode("ascii")
    return _LEADING_DOT.sub(b"=2E", encoded)


def header_text(text: str) -> str:
    """Header values never carry line breaks (no header injection through a name or title).

    Nor an RFC 2047 encoded word: the stdlib's header parser decodes ``=?UTF-8?Q?=0A?=`` in a
    value it is given into a real line break and writes it out raw (cpython#121650), so "=?"
    gets an invisible word joiner and stays text.
    """
    return " ".join((text or "").split()).replace("=?", "=\u2060?")


# A layout's link slot is ``marker index * 2 + part``: which value, and whether it is HTML-escaped.
_TEXT_LINK, _HTML_LINK = 0, 1


@dataclass(frozen=True)
class PreparedEmail:
    """One variant of an issue email, encoded; ``personalize`` makes a recipient's copy.

    ``layout`` is the body as static byte chunks and link slots; ``canonical`` the same with
    each static chunk in DKIM's relaxed form, so a signature only hashes, never rewrites.
    Every chunk ends a line, which is what lets canonical forms be prepared piece by piece.
    """

    static_head: bytes  # From, Subject, MIME-Version, Content-Type: the same for everyone
    signed_static: tuple[tuple[bytes, bytes], ...]  # those headers as DKIM signs them
    layout: tuple[bytes | int, ...]
    canonical: tuple[bytes | int, ...]
    domain: str

    @classmethod
    def encode(
        cls, *, mail_from: str, subject: str, text: str, html_body: str, domain: str
    ) -> PreparedEmail:
        """Encode ``text`` and ``html_body``, each holding LINK_MARKER where the unsubscribe link
        goes (and FEEDBACK_MARKER / TRACK_MARKER where the recipient's feedback and tracking
        tokens go, if anywhere)."""
        head = EmailMessage(policy=MAIL_POLICY)
        head["From"] = mail_from
        head["Subject"] = header_text(subject)
        boundary = f"==kith-{secrets.token_hex(12)}=="
        content_type = f'multipart/alternative; boundary="{boundary}"'
        static_head = head.as_bytes().rstrip(b"\r\n") + b"\r\n"
        static_head += b"MIME-Version: 1.0\r\nContent-Type: " + content_type.encode() + b"\r\n"
        signed_static = _header_fields(static_head)
        part_head = (
            '--{boundary}\r\nContent-Type: text/{kind}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        )
        layout: list[bytes | int] = [part_head.format(boundary=boundary, kind="plain").encode()]
        layout += _cut(text, _TEXT_LINK)
        layout.append(b"\r\n" + part_head.format(boundary=boundary, kind="html").encode())
        layout += _cut(html_body, _HTML_LINK)
        layout.append(f"\r\n--{boundary}--\r\n".encode())
        layout = _whole_lines(layout)
        canonical = tuple(
            relaxed_lines(chunk) if isinstance(chunk, bytes) else chunk for chunk in layout
        )
        return cls(static_head, signed_static, tuple(layout), canonical, domain)

    def personalize(
        self,
        *,
        to_name: str,
        to_address: str,
        message_id_local: str,
        reply_to: str,
        unsubscribe_url: str,
        unsubscribe_mailto: str,
        feedback_token: str = "",
        signer: BulkSigner | None = None,
        track_token: str = "",
    ) -> tuple[str, bytes]:
        """This recipient's copy: (its Message-ID, the message bytes ready for SMTP)."""
        message_id = f"<{message_id_local}.{secrets.token_hex(6)}@{self.domain}>"
        recipient = (
            (b"To", _address(to_name, to_address)),
            (b"Date", formatdate(localtime=False).encode()),
            (b"Message-ID", message_id.encode()),
            (b"Reply-To", reply_to.encode()),
            (b"List-Unsubscribe", f"<{unsubscribe_url}>,\r\n <{unsubscribe_mailto}>".encode()),
            (b"List-Unsubscribe-Post", b"List-Unsubscribe=One-Click"),
            (b"Precedence", b"bulk"),
        )
        links = tuple(
            _qp(value) + SOFT_BREAK
            for link in (unsubscribe_url, feedback_token, track_token)
            for value in (link, html.escape(link))
        )
        head = self.static_head + b"".join(
            name + b": " + value + b"\r\n" for name, value in recipient
        )
        if signer is not None:
            canonical_body = b"".join(
                chunk if isinstance(chunk, bytes) else links[chunk] for chunk in self.canonical
            )
            head = signer.signature((*self.signed_static, *recipient[:6]), canonical_body) + head
        body = b"".join(
            chunk if isinstance(chunk, bytes) else links[chunk] for chunk in self.layout
        )
        return message_id, head + b"\r\n" + body


def _header_fields(head: bytes) -> tuple[tuple[bytes, bytes], ...]:
    """(name, value) of each header field in ``head``, values as on the wire (folded)."""
    fields = re.split(rb"\r\n(?![ \t])", head.rstrip(b"\r\n"))
    return tuple(tuple(field.split(b": ", 1)) for field in fields)  # type: ignore[misc]


def _cut(content: str, part: int) -> list[bytes | int]:
    """``content`` encoded, with a slot wherever a marker was (the marker's value, escaped for
    HTML in the HTML ``part``).

    Each piece before a slot ends with a soft line break, so the value is a line of its own.
    """
    layout: list[bytes | int] = []
    pieces = _SPLIT.split(content)  # text, marker, text, marker, …, text
    for index, piece in enumerate(pieces):
        if index % 2:
            layout.append(_MARKERS.index(piece) * 2 + part)
        else:
            layout.append(_qp(piece) + (SOFT_BREAK if index < len(pieces) - 1 else b""))
    return layout


def _whole_lines(layout: list[bytes | int]) -> list[bytes | int]:
    """Merge each static chunk that ends mid-line into the next static one."""
    merged: list[bytes | int] = []
    for chunk in layout:
        if (
            isinstance(chunk, bytes)
            and merged
            and isinstance(merged[-1], bytes)
            and not (merged[-1].endswith(b"\r\n"))
        ):
            merged[-1] += chunk
        else:
            merged.append(chunk)
    assert all(isinstance(c, int) or c.endswith(b"\r\n") for c in merged), "chunk ends mid-line"
    return merged


def _address(name: str, address: str) -> bytes:
    """``Name <address>``; a name outside ASCII becomes RFC 2047 encoded words."""
    return formataddr((header_text(name), address)).replace("\n", "\r\n").encode()
