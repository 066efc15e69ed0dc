"""A tracked issue email is still a correct, signed message: each recipient's token lands
whole in every link and the pixel, the parser reads it back, and DKIM verifies."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser

import dkim
import pytest

from app.sending.prepared import LINK_MARKER, TRACK_MARKER, PreparedEmail
from tests.insights.conftest import counting, html_and_text, received
from tests.sending.test_dkim import dns, key_path  # noqa: F401 - key_path is a fixture

HTML = (
    "<p>Café</p>\n" * 50
    + f'<a href="https://x.example/c/{TRACK_MARKER}/1">one</a>'
    + f'<a href="https://x.example/c/{TRACK_MARKER}/22">two</a>\n'
    + f'<a href="{LINK_MARKER}">Unsubscribe</a><img src="https://x.example/o/{TRACK_MARKER}.gif">'
)


@pytest.fixture
def app_overrides(key_path):  # noqa: F811 - the fixture imported above
    return {"dkim_selector": "kith1", "dkim_private_key_path": key_path}


@pytest.mark.parametrize("token", ["WzEsMl0.abc-_DEF", ".starts-with-a-dot" + "x" * 120])
def test_the_token_slot_carries_any_url_safe_token_whole(token):
    prepared = PreparedEmail.encode(
        mail_from="L <l@example.org>", subject="S", text=f"Bye: {LINK_MARKER}", html_body=HTML,
        domain="example.org",
    )  # fmt: skip
    _, data = prepared.personalize(
        to_name="R", to_address="r@example.org", message_id_local="i1.d2",
        reply_to="reply@example.org", unsubscribe_url="https://x.example/unsubscribe/t",
        unsubscribe_mailto="mailto:u@example.org", track_token=token,
    )  # fmt: skip
    message = BytesParser(policy=policy.default).parsebytes(data)
    html = message.get_body(("html",)).get_content()
    assert f"/c/{token}/1" in html and f"/c/{token}/22" in html and f"/o/{token}.gif" in html
    assert TRACK_MARKER not in html and not re.search(rb"^\.", data, re.MULTILINE)


def test_a_tracked_send_is_signed_and_verifies(app, session, issue, readers, send, smtp):
    counting(session)
    send(issue)
    message = received(smtp, "ann@example.com")
    html, _ = html_and_text(message)
    assert "/o/" in html and "/c/" in html
    raw = next(item.data for item in smtp.received if "ann@example.com" in item.recipients)
    assert dkim.verify(raw, dnsfunc=dns)
