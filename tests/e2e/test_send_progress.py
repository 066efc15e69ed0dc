"""An editor sends an issue from the dialog and watches it go out, without reloading."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.db import transaction
from app.issues import service as issues
from app.members.models import Member
from app.sending.models import Send
from tests.conftest import run_jobs
from tests.e2e.test_authoring import editor_link

pytestmark = pytest.mark.browser


@pytest.fixture
def newsletter(live_app, redis):
    """An unpublished issue and three readers on the live app; returns the issue's id."""
    base, app = live_app
    with app.app_context(), transaction() as session:
        for name in ("ann", "bob", "cy"):
            session.add(Member(email=f"{name}@example.com", status="active"))
        issue = issues.save_issue(session, {"title": "Levain diary", "body_markdown": "Day one."})
        return issue.id


def sign_in(page, app, base: str) -> None:
    page.goto(editor_link(app, base))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/issues$"))


def test_send_from_the_dialog_and_watch_the_numbers_move(live_app, page, newsletter):
    base, app = live_app
    sign_in(page, app, base)
    page.goto(f"{base}/admin/issues/{newsletter}")
    page.get_by_role("link", name="Send…").click()

    page.get_by_label("Or a segment expression").fill("all")
    page.get_by_role("button", name="Check recipients").click()
    expect(page.locator("#recipient-count")).to_have_text(
        "4 members would get it."
    )  # and the editor
    page.get_by_label("I checked who this goes to").check()
    page.get_by_role("button", name="Send and publish").click()

    expect(page).to_have_url(re.compile(rf"/admin/issues/{newsletter}#send-\d+$"))
    progress = page.locator("article.send").first
    expect(progress.locator("[data-field=summary]")).to_have_text("Sent 0 of 4")
    page.evaluate("window.stillTheSamePage = true")

    run_jobs(app)  # a real RQ worker, in this process, until the queues are empty

    expect(progress.locator("[data-field=summary]")).to_have_text("Sent 4 of 4")
    expect(progress.locator("[data-field=status]")).to_have_text("Done")
    expect(progress.locator("progress")).to_have_attribute("value", "100")
    expect(progress.get_by_role("button", name=re.compile("Pause"))).to_be_hidden()
    assert page.evaluate("window.stillTheSamePage") is True  # updated in place, never reloaded


def test_a_scheduled_time_is_read_in_the_browsers_time_zone(browser, live_app, newsletter):
    base, app = live_app
    context = browser.new_context(timezone_id="Pacific/Auckland")
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, app, base)
        page.goto(f"{base}/admin/issues/{newsletter}/send")
        wall_clock = datetime.now(ZoneInfo("Pacific/Auckland")).replace(
            second=0, microsecond=0, tzinfo=None
        ) + timedelta(days=40)  # a date whose offset may differ from today's (DST)
        page.get_by_label("Or a segment expression").fill("all")
        time_field = page.get_by_label(re.compile(r"^Time \(your time zone, UTC\+1[23]:00\)$"))
        time_field.fill(wall_clock.strftime("%Y-%m-%dT%H:%M"))
        expect(page.get_by_label("At a time")).to_be_checked()  # typing a time chose "later"
        page.get_by_label("I checked who this goes to").check()
        page.get_by_role("button", name="Send and publish").click()
        expect(page.locator(".flash")).to_contain_text("Scheduled for")
    finally:
        context.close()
    expected = wall_clock.replace(tzinfo=ZoneInfo("Pacific/Auckland")).astimezone(UTC)
    with app.app_context(), transaction() as session:
        send = session.scalars(select(Send)).one()
        assert (send.status, send.scheduled_at) == ("scheduled", expected)
