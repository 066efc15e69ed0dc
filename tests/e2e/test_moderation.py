"""An editor works the moderation queue in a real browser: a reported post, hidden, moves from
the queue to the hidden posts, and back."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.db import transaction
from app.discussions import moderation, service
from app.issues import service as issues
from app.members.models import Member
from tests.e2e.test_authoring import editor_link

pytestmark = pytest.mark.browser


def reported_post(app) -> int:
    with app.app_context(), transaction() as session:
        issue = issues.save_issue(session, {"title": "Rye days", "body_markdown": "Rye."})
        issues.publish(session, issue)
        author = Member(email="spammer@example.com", name="Sam Spam", status="active")
        reader = Member(email="reader@example.com", status="active")
        session.add_all([author, reader])
        session.flush()
        thread = service.issue_thread(session, issue)
        post = service.create_post(session, author, thread, "Cheap **flour** at my shop!")
        moderation.report_post(session, reader, post, "advertising")
        return post.id


def test_editor_hides_a_reported_post_and_finds_it_under_hidden_posts(live_app, page):
    base, app = live_app
    post_id = reported_post(app)
    page.goto(editor_link(app, base))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/issues$"))

    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Moderation").click()
    item = page.get_by_role("listitem").filter(has_text=f"Post #{post_id}")
    expect(item.get_by_text("Cheap flour at my shop!")).to_be_visible()
    expect(item.get_by_text("advertising")).to_be_visible()
    expect(item.get_by_role("link", name="Sam Spam")).to_be_visible()
    item.get_by_label("Reason (kept in the log)").first.fill("spam")
    item.get_by_role("button", name=f"Hide post #{post_id}").click()

    expect(page.locator(".flash")).to_contain_text("Post hidden")
    expect(page.get_by_text("Nothing to look at")).to_be_visible()
    expect(page.get_by_text(f"Post #{post_id}")).to_have_count(0)

    page.get_by_role("link", name="Hidden posts (1)").click()
    expect(page.get_by_role("heading", name=f"Post #{post_id} in Rye days")).to_be_visible()
    page.get_by_role("button", name=f"Unhide post #{post_id}").click()
    expect(page.locator(".flash")).to_contain_text("Post visible again")
    expect(page.get_by_text("No post is hidden.")).to_be_visible()

    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("cell", name="spam", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="unhide", exact=True)).to_be_visible()
