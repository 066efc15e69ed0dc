"""The issue email encoded once and personalized by joining bytes must be a correct message:
the stdlib parser reads back exactly what was meant, dkimpy verifies its signature, and SMTP
can take it without dot-stuffing."""

from __future__ import annotations

import base64
from email import policy
from email.parser import BytesParser

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from app.sending.prepared import LINK_MARKER, PreparedEmail
from app.sending.signing import BulkSigner

TEXT = (
    "Crème fraîche  and   spaces.\n.A line that starts with a dot\n"
    + "word " * 400
    + f"\nUnsubscribe: {LINK_MARKER}\ntrailing space \n"
)
HTML = (
    "<p>Café &amp; bread — “quotes”</p>\n" * 200
    + f'<a href="{LINK_MARKER}">Unsubscribe</a> or paste {LINK_MARKER}\n<p>.dot</p>'
)
LINK = "https://news.example.org/unsubscribe/eyJtIjo0Mn0.abc-_DEF.x=y&z" + "q" * 80


@pytest.fixture(scope="module")
def prepared() -> PreparedEmail:
    return PreparedEmail.encode(
        mail_from="Ünïcode Letter <letters@example.org>",
        subject="Über bread\r\nBcc: evil@example.com — issue 1",
        text=TEXT,
        html_body=HTML,
        domain="example.org",
    )


def personalize(prepared, signer=None, name="Zoë Reader"):
    return prepared.personalize(
        to_name=name,
        to_address="zoe@example.com",
        message_id_local="i1.d42",
        reply_to="reply+token@example.org",
        unsubscribe_url=LINK,
        unsubscribe_mailto="mailto:unsubscribe+token@example.org",
        signer=signer,
    )


def parse(data: bytes):
    return BytesParser(policy=policy.default).parsebytes(data)


def test_the_stdlib_parser_reads_back_every_part_with_the_recipient_link(prepared):
    message_id, data = personalize(prepared)
    message = parse(data)
    assert message["To"] == "Zoë Reader <zoe@example.com>"
    assert message["Subject"] == "Über bread Bcc: evil@example.com — issue 1"  # one line
    assert "Bcc" not in message and message["Message-ID"] == message_id
    assert message_id.startswith("<i1.d42.") and message_id.endswith("@example.org>")
    plain = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert plain == TEXT.replace(LINK_MARKER, LINK)
    assert html == HTML.replace(LINK_MARKER, LINK.replace("&", "&amp;"))
    https, mailto = (part.strip() for part in message["List-Unsubscribe"].split(","))
    assert https == f"<{LINK}>" and mailto == "<mailto:unsubscribe+token@example.org>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_bytes_are_safe_for_smtp_as_they_are(prepared):
    _, data = personalize(prepared)
    lines = data.split(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
    assert not any(line.startswith(b".") for line in lines)  # no dot-stuffing needed
    body = data.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # RFC 2045
    assert max(len(line) for line in lines) <= 998  # RFC 5322
    assert data.isascii()


def test_every_copy_is_distinct_where_it_must_be(prepared):
    first, second = personalize(prepared), personalize(prepared)
    assert first[0] != second[0]  # unique Message-ID per copy


def _rsa_dns(key):
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return lambda name, timeout=5: b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def test_the_fast_dkim_signature_verifies_with_dkimpy_and_covers_unsubscribe(prepared):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = BulkSigner("kith1", "example.org", key)
    _, data = personalize(prepared, signer)
    assert dkim.verify(data, dnsfunc=_rsa_dns(key))
    signature = parse(data)["DKIM-Signature"].replace(" ", "").replace("\t", "")
    assert "c=relaxed/relaxed" in signature and "d=example.org" in signature
    assert "list-unsubscribe:list-unsubscribe-post" in signature
    swapped = data.replace(b"unsubscribe+token", b"unsubscribe+other")
    assert not dkim.verify(swapped, dnsfunc=_rsa_dns(key))  # the link is covered
    body_changed = data.replace(b"Unsubscribe</a>", b"Unsubscrib3</a>")
    assert not dkim.verify(body_changed, dnsfunc=_rsa_dns(key))


def test_ed25519_signatures_verify_too(prepared):
    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    _, data = personalize(prepared, BulkSigner("kith1", "example.org", key))
    dns = lambda name, timeout=5: b"v=DKIM1; k=ed25519; p=" + base64.b64encode(public)  # noqa: E731
    assert dkim.verify(data, dnsfunc=dns)


def test_a_name_outside_ascii_or_with_line_breaks_stays_one_safe_header(prepared):
    _, data = personalize(prepared, name="Zoë\r\nBcc: evil@example.com")
    message = parse(data)
    assert "Bcc" not in message and "zoe@example.com" in message["To"]
