"""An editor signs in, writes with a live preview, publishes, and a reader reads it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.db import transaction
from app.members import service as members

pytestmark = pytest.mark.browser

BODY = """Our starter notes.

## Feeding schedule

| Time | Flour |
|------|------:|
| 8:00 | 50 g |

<script>alert(1)</script>
"""


def editor_link(app, base: str) -> str:
    with app.app_context(), transaction() as session:
        token = members.start_login(session, members.create_editor(session, "chief@example.com"))
        signed = members.sign_login_token(app.extensions["kith.settings"], token)
    return f"{base}/login/{signed}"


def test_login_write_preview_publish_read(live_app, page, tmp_path):
    base, app = live_app
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(editor_link(app, base))
    expect(page.get_by_text("chief@example.com")).to_be_visible()
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/issues$"))

    page.get_by_role("link", name="Write a new issue").click()
    page.get_by_label("Title", exact=True).fill("Starter diaries")
    page.get_by_label("Excerpt").fill("How we feed our starters.")
    page.get_by_label("Body (markdown)").fill(BODY)
    preview = page.locator("#preview")
    expect(preview.get_by_role("heading", name="Feeding schedule")).to_be_visible()  # live, by JS
    expect(preview.locator("table td").first).to_have_text("8:00")
    expect(preview).to_contain_text("<script>alert(1)</script>")  # shown as text, never run
    page.screenshot(path=str(tmp_path / "editor.png"), full_page=True)

    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".flash")).to_contain_text("Published")

    page.goto(f"{base}/issues/starter-diaries")
    expect(page.get_by_role("heading", level=1)).to_have_text("Starter diaries")
    expect(page.get_by_role("heading", name="Feeding schedule")).to_be_visible()
    expect(page.get_by_text("1 min read")).to_be_visible()
    page.goto(f"{base}/archive")
    expect(page.get_by_role("link", name="Starter diaries")).to_be_visible()
    assert dialogs == []


def test_the_used_link_cannot_sign_in_again(live_app, page):
    base, app = live_app
    link = editor_link(app, base)
    page.goto(link)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/issues$"))
    page.context.clear_cookies()
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link cannot sign you in")
