"""An editor makes boards with the keyboard; a member on a phone starts a topic, finds it, and
marks the board read. No JavaScript is needed anywhere on the way."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.db import transaction
from app.members import service as members
from app.members.models import Member

pytestmark = pytest.mark.browser


def login_link(app, base: str, email: str, *, editor: bool = False) -> str:
    with app.app_context(), transaction() as session:
        if editor:
            member = members.create_editor(session, email)
        else:
            member = Member(email=email, name="Pat Phone", status="active", tier="paid")
            session.add(member)
            session.flush()
        token = members.start_login(session, member)
        signed = members.sign_login_token(app.extensions["kith.settings"], token)
    return f"{base}/login/{signed}"


def sign_in(page, link: str) -> None:
    page.goto(link)
    page.get_by_role("button", name="Sign in").click()


def test_editor_makes_boards_and_a_member_on_a_phone_starts_a_topic(live_app, browser):
    base, app = live_app
    desk = browser.new_context(java_script_enabled=False).new_page()
    sign_in(desk, login_link(app, base, "chief@example.com", editor=True))
    desk.goto(base + "/admin/boards")
    for name, slug, access in (("Kitchen", "kitchen", "members"), ("Backroom", "backroom", "paid")):
        desk.get_by_label("Name").fill(name)
        desk.get_by_label("Slug").fill(slug)
        desk.get_by_label("Who can read it").select_option(access)
        desk.get_by_label("Slug").press("Enter")  # submits the form, keyboard only
        expect(desk.get_by_role("status")).to_contain_text(f"Board “{name}” created.")
    desk.get_by_role("button", name="Move Backroom up").click()
    rows = desk.locator("table.data tbody tr")
    expect(rows.first).to_contain_text("Backroom")
    desk.context.close()

    phone = browser.new_context(viewport={"width": 375, "height": 740}, java_script_enabled=False)
    page = phone.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, login_link(app, base, "pat@example.com"))
    page.goto(base + "/")
    page.get_by_role("link", name="Forum").click()
    headings = page.locator(".board-list h2")
    expect(headings.nth(0)).to_have_text("Backroom")
    expect(headings.nth(1)).to_have_text("Kitchen")

    page.get_by_role("link", name="Kitchen").click()
    page.get_by_role("link", name="New topic").click()
    page.get_by_label("Title").fill("Rye at 80 %?")
    page.get_by_label("Your post").fill("Has anyone tried **80 %** hydration with rye_flour?")
    page.get_by_role("button", name="Start topic").click()
    expect(page).to_have_url(re.compile(r"/t/\d+$"))  # the thread page (discussions.views)

    page.goto(base + "/forum/kitchen")
    expect(page.get_by_role("link", name="Rye at 80 %?")).to_be_visible()
    expect(page.get_by_text("Started by Pat Phone")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.get_by_label("Search this board").fill("rye_flour")
    page.get_by_label("Search this board").press("Enter")
    expect(page.get_by_text("1 result")).to_be_visible()
    expect(page.locator("mark").first).to_have_text("rye_flour")
    page.get_by_role("link", name=re.compile("Rye at 80")).click()
    expect(page).to_have_url(re.compile(r"/t/\d+#post-\d+$"))
    phone.close()
