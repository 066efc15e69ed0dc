"""An invited person joins by link, confirms from the email, and reads a paid issue."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.db import transaction
from app.issues import service as issues
from app.members import invites
from app.members.models import Member
from tests.conftest import run_jobs
from tests.e2e.test_membership import last_link

pytestmark = pytest.mark.browser
SECRET = "Only members read this: the starter wants rye on Sundays."


def test_invited_person_joins_by_link_and_reads_a_paid_issue(live_app, page):
    base, app = live_app
    with app.app_context(), transaction() as session:
        issue = issues.save_issue(
            session,
            {"title": "Rye days", "visibility": "paid",
             "body_markdown": f"The open teaser.\n\n<!-- more -->\n\n{SECRET}\n"},
        )  # fmt: skip
        issues.publish(session, issue)
        slug = issue.slug
        code = invites.create(session, tags=["guests"], max_uses=1).code

    page.goto(f"{base}/join/{code}")
    expect(page.get_by_role("heading", name="You are invited")).to_be_visible()
    page.get_by_label("Email address").fill("guest@example.com")
    page.get_by_role("button", name="Join").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

    run_jobs(app)
    page.goto(last_link(app, base, f"/join/{code}/confirm/"))
    page.get_by_role("button", name="Confirm and join").click()
    expect(page.get_by_text("Invitation accepted. Your membership is now: invite")).to_be_visible()

    page.goto(f"{base}/issues/{slug}")
    expect(page.get_by_text(SECRET)).to_be_visible()
    with app.app_context(), transaction() as session:
        member = session.scalar(select(Member).where(Member.email == "guest@example.com"))
        assert (member.tier, [tag.name for tag in member.tags]) == ("invite", ["guests"])
