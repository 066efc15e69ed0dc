"""An editor makes an API token in the admin, on a phone, copies it once, uses it, revokes it."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.e2e.test_authoring import editor_link

pytestmark = pytest.mark.browser


def call_api(base: str, secret: str) -> int:
    request = urllib.request.Request(
        f"{base}/api/v1/issues", headers={"Authorization": f"Bearer {secret}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            json.load(answer)
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_an_editor_makes_uses_and_revokes_a_token_on_a_phone(live_app, browser, tmp_path):
    base, app = live_app
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(editor_link(app, base))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/issues$"))

    page.get_by_role("link", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens", level=1)).to_be_visible()
    page.get_by_label("Name").fill("Zapier")
    page.get_by_role("radio", name=re.compile(r"^Write")).check()
    page.get_by_role("button", name="Create token").click()

    shown = page.get_by_label("Token", exact=True)
    expect(shown).to_have_value(re.compile(r"^kith_[\w-]{43}$"))
    secret = shown.input_value()
    page.screenshot(path=str(tmp_path / "api-tokens-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways page
    assert call_api(base, secret) == 200

    page.goto(f"{base}/admin/api-tokens")
    expect(page.get_by_label("Token", exact=True)).to_have_count(0)  # shown once only
    expect(page.get_by_role("cell", name="write")).to_be_visible()
    page.get_by_role("button", name="Revoke the token Zapier").click()
    expect(page.locator(".flash")).to_contain_text("is revoked")
    assert call_api(base, secret) == 401
    context.close()
