"""A reader clicks a rating in the issue email: Chromium opens the link, the page's script sends
the rating at once, and a comment typed afterwards reaches the editor as private feedback."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.db import transaction
from app.discussions.models import FeedbackVote, Post
from app.issues import service as issues
from app.members import tokens
from app.members.models import Member

pytestmark = pytest.mark.browser


def test_one_click_counts_and_a_comment_follows(live_app, page):
    base, app = live_app
    with app.app_context(), transaction() as session:
        issue = issues.save_issue(
            session, {"title": "Crumb", "body_markdown": "Words.", "feedback_choices": 5}
        )
        issues.publish(session, issue)
        member = Member(email="reader@example.com", status="active")
        session.add(member)
        session.flush()
        ids = {"m": member.id, "i": issue.id}
    token = tokens.sign(app.extensions["kith.settings"], "feedback", ids)

    page.goto(f"{base}/feedback/{token}/4")
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("4 of 5")
    with app.app_context(), transaction() as session:
        assert session.scalars(select(FeedbackVote.choice)).all() == [4]

    page.get_by_label("Anything to add?").fill("More photos of the crumb, please.")
    page.get_by_role("button", name="Send to the editor").click()
    expect(page.get_by_role("status")).to_contain_text("Your comment reached the editor.")
    page.get_by_role("button", name="2 of 5").click()
    expect(page.get_by_role("status")).to_contain_text("2 of 5")
    with app.app_context(), transaction() as session:
        assert session.scalars(select(FeedbackVote.choice)).all() == [2]
        post = session.scalars(select(Post)).one()
        assert post.private and post.body_markdown == "More photos of the crumb, please."
