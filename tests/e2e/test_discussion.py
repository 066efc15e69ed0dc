"""A member signs in, reads an issue, replies under it, replies to a reply and reacts; after a
reload everything is still there. The reply form is reached with the keyboard alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.db import transaction
from app.discussions import service
from app.issues import service as issues
from app.members import service as members
from app.members.models import Member

pytestmark = pytest.mark.browser

QUESTION = "How long do you proof overnight?"


def seed(app) -> str:
    """A members issue with one question under it; returns a sign-in link for Mara."""
    with app.app_context(), transaction() as session:
        issue = issues.save_issue(
            session,
            {"title": "Proofing notes", "visibility": "members", "body_markdown": "Cold proof."},
        )
        issues.publish(session, issue)
        olu = Member(email="olu@example.com", name="Olu", status="active")
        mara = Member(email="mara@example.com", name="Mara", status="active")
        session.add_all([olu, mara])
        session.flush()
        service.create_post(session, olu, service.issue_thread(session, issue), QUESTION)
        token = members.start_login(session, mara)
        signed = members.sign_login_token(app.extensions["kith.settings"], token)
    return f"/login/{signed}"


def test_member_replies_replies_to_a_reply_and_reacts(live_app, page):
    base, app = live_app
    page.goto(base + seed(app))
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/issues/proofing-notes")
    expect(page.get_by_role("heading", name="Discussion", exact=True)).to_be_visible()
    question = page.locator("article.post", has_text=QUESTION)
    expect(question).to_contain_text("Olu")

    # The keyboard alone reaches the form to write a new reply.
    page.locator("body").focus()
    new_reply = page.get_by_label("Your reply", exact=True)
    for _ in range(120):
        page.keyboard.press("Tab")
        if new_reply.evaluate("element => element === document.activeElement"):
            break
    expect(new_reply).to_be_focused()
    page.keyboard.type("Twelve hours in the fridge works for me.")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page).to_have_url(f"{base}/issues/proofing-notes#post-2")
    expect(page.locator("#post-2")).to_contain_text("Twelve hours in the fridge")

    question.get_by_text("Reply", exact=True).click()
    question.get_by_label("Your reply to Olu").fill("Eight hours at 4 °C for rye.")
    question.get_by_role("button", name="Post reply").click()
    answer = page.locator("#post-3")
    expect(answer).to_contain_text("Eight hours at 4 °C")

    answer.get_by_text("Reply", exact=True).click()
    answer.get_by_label("Your reply to Mara").fill("And **longer** for wheat.")
    answer.get_by_role("button", name="Post reply").click()
    expect(page.locator("#post-4 strong", has_text="longer")).to_be_visible()

    like = question.get_by_role("button", name="Like")
    expect(like).to_have_attribute("aria-pressed", "false")
    like.click()
    expect(like).to_have_attribute("aria-pressed", "true")  # in place, by reactions.js
    expect(like).to_contain_text("1")

    page.reload()
    replies = page.locator("li", has=page.locator("article#post-1")).locator("ol.replies")
    expect(replies.locator("article")).to_have_count(2)
    expect(replies).to_contain_text("Eight hours at 4 °C")
    expect(replies).to_contain_text("longer for wheat")
    expect(page.locator("#post-2")).to_contain_text("Twelve hours in the fridge")
    expect(question.get_by_role("button", name="Like")).to_have_attribute("aria-pressed", "true")
