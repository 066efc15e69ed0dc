"""A member reads an issue and replies on the web; the editor answers from the feedback
inbox; the member finds the answer under their reply."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.db import transaction
from app.issues import service as issues
from app.members import service as members
from app.members.models import Member

pytestmark = pytest.mark.browser

QUESTION = "Could you share the hydration for the rye loaf?"
ANSWER = "Eighty-five percent, and a long autolyse."


def login_link(app, email: str, **values) -> str:
    with app.app_context(), transaction() as session:
        member = Member(email=email, status="active", **values)
        session.add(member)
        session.flush()
        token = members.start_login(session, member)
        signed = members.sign_login_token(app.extensions["kith.settings"], token)
    return f"/login/{signed}"


def test_member_replies_and_the_editor_answers_from_the_inbox(browser, live_app):
    base, app = live_app
    with app.app_context(), transaction() as session:
        issue = issues.save_issue(
            session,
            {"title": "Rye week", "visibility": "members", "body_markdown": "All about rye."},
        )
        issues.publish(session, issue)
    member_link = login_link(app, "mara@example.com", name="Mara")
    editor_link = login_link(app, "ed@example.com", name="Ed", role="editor")

    member = browser.new_context().new_page()
    member.goto(base + member_link)
    member.get_by_role("button", name="Sign in").click()
    member.goto(f"{base}/issues/rye-week")
    member.get_by_label("Your reply", exact=True).fill(QUESTION)
    member.get_by_role("button", name="Post", exact=True).click()
    expect(member.locator("article.post", has_text=QUESTION)).to_be_visible()

    editor = browser.new_context().new_page()
    editor.goto(base + editor_link)
    editor.get_by_role("button", name="Sign in").click()
    editor.goto(f"{base}/admin/feedback")
    item = editor.locator("li.feedback-item", has_text=QUESTION)
    expect(item.get_by_role("button", name="Mark handled")).to_be_visible()
    item.locator("summary", has_text="Answer").click()
    item.get_by_label("Your answer").fill(ANSWER)
    item.get_by_role("button", name="Post answer").click()
    answered = editor.locator("li.feedback-item", has_text=QUESTION)
    expect(answered).to_contain_text(ANSWER)
    expect(answered.get_by_role("button", name="Mark unhandled")).to_be_visible()  # handled

    member.reload()
    question = member.locator("li", has=member.locator("article.post", has_text=QUESTION))
    expect(question.locator("ol.replies")).to_contain_text(ANSWER)
    expect(question.locator("ol.replies")).to_contain_text("Editor")
