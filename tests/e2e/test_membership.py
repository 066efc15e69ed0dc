"""A reader subscribes, confirms from the email, manages the account and unsubscribes."""

from __future__ import annotations

import mailbox
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.db import transaction
from app.members.models import Member
from app.members.subscriptions import unsubscribe_url
from tests.conftest import run_jobs

pytestmark = pytest.mark.browser


def last_link(app, base: str, path_prefix: str) -> str:
    """The ``base + path_prefix…`` link in the newest outbox message."""
    outbox = mailbox.Maildir(app.extensions["kith.settings"].outbox_path, create=False)
    newest = sorted(outbox.items(), key=lambda item: item[1].get_date())[-1][1]
    text = next(part for part in newest.walk() if part.get_content_type() == "text/plain")
    body = text.get_payload(decode=True).decode()
    return re.search(rf"{re.escape(base + path_prefix)}\S+", body).group(0)


def test_subscribe_confirm_account_unsubscribe(live_app, page):
    base, app = live_app
    page.goto(base + "/")
    page.get_by_label("Email address").fill("reader@example.com")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    run_jobs(app)
    page.goto(last_link(app, base, "/confirm/"))
    page.get_by_role("button", name="Confirm my subscription").click()
    expect(page.get_by_role("status")).to_contain_text("Your subscription is confirmed")

    page.get_by_label("Name").fill("Rita Reader")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_role("status")).to_contain_text("Your name is saved")
    page.get_by_label("A daily digest of forum activity").check()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_label("A daily digest of forum activity")).to_be_checked()

    with app.app_context(), transaction() as session:
        member = session.scalar(select(Member).where(Member.email == "reader@example.com"))
        assert (member.status, member.name, member.email_digest) == ("active", "Rita Reader", True)
        link = unsubscribe_url(app.extensions["kith.settings"], member)  # as in every issue email
    page.goto(link)
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    expect(page.get_by_role("button", name="Resubscribe")).to_be_visible()
    with app.app_context(), transaction() as session:
        status = session.scalar(select(Member.status).where(Member.email == "reader@example.com"))
    assert status == "unsubscribed"
