"""Email templates: each compiles, has a text twin, and a broken one stops start-up by file:line."""

from __future__ import annotations

import shutil
from email import message_from_bytes, policy

import pytest

from app import create_app
from app.config import PROJECT_ROOT
from app.sending.emails import EmailTemplateError, EmailTemplates
from app.sending.mailer import build_message

VALID = (
    "<mjml>\n<mj-body>\n<mj-section>\n<mj-column>\n<mj-text>Hi {{ name }}</mj-text>\n"
    "</mj-column>\n</mj-section>\n</mj-body>\n</mjml>\n"
)


def test_every_shipped_template_renders_html_and_text():
    templates = EmailTemplates.load(PROJECT_ROOT / "emails")
    assert {"login", "issue"} <= set(templates.names())
    rendered = templates.render(
        "login", publication="P", name="<b>Ann</b>", link="http://x/l", minutes=15
    )
    assert (
        "&lt;b&gt;Ann&lt;/b&gt;" in rendered.html and "<b>Ann</b>" in rendered.text
    )  # escaped in HTML
    assert 'href="http://x/l"' in rendered.html and "http://x/l" in rendered.text


@pytest.mark.parametrize(
    ("source", "line", "reason"),
    [
        (
            VALID.replace("<mj-column>", "<mj-colum>").replace("</mj-column>", "</mj-colum>"),
            4,
            "unknown MJML element <mj-colum>",
        ),
        (VALID.replace("</mj-column>\n", ""), 6, "</mj-section> found where </mj-column>"),
        (VALID.replace("</mjml>\n", ""), 1, "<mjml> is never closed"),
        (VALID.replace("{{ name }}", "{{ name "), 5, "unexpected"),
        (VALID.replace("<mj-text>Hi", "<mj-text><mj-section>Hi"), 5, "cannot sit inside <mj-text>"),
    ],
)
def test_a_broken_template_fails_start_up_naming_file_and_line(tmp_path, source, line, reason):
    emails = tmp_path / "emails"
    shutil.copytree(PROJECT_ROOT / "emails", emails)
    (emails / "broken.mjml").write_text(source)
    (emails / "broken.txt").write_text("text")
    with pytest.raises(EmailTemplateError) as raised:
        create_app(
            {"instance_path": tmp_path / "instance", "emails_dir": emails, "secret_key": "k"}
        )
    assert str(raised.value).startswith(f"{emails / 'broken.mjml'}:{line}: ")
    assert reason in str(raised.value)


def test_a_template_without_a_text_version_is_refused(tmp_path):
    (tmp_path / "lonely.mjml").write_text(VALID)
    with pytest.raises(EmailTemplateError, match="no plain-text version lonely.txt"):
        EmailTemplates.load(tmp_path)


def test_messages_parse_back_with_both_parts_and_crlf(app):
    templates = EmailTemplates.load(PROJECT_ROOT / "emails")
    body = templates.render(
        "login", publication="P", name="", link="http://x/" + "l" * 300, minutes=15
    )
    message = build_message(
        app.extensions["kith.settings"], to="a@example.org", subject="Sign in", body=body
    )
    raw = message.as_bytes()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed.get_body(("plain",)).get_content().startswith("P")
    assert "<!doctype html>" in parsed.get_body(("html",)).get_content()
    assert parsed["Message-ID"].endswith("@localhost>")
