"""The issue editor's discussion settings: who posts, where mailed replies go, and how many
one-click ratings the email carries."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.issues.models import Issue
from tests.admin.test_views import save
from tests.conftest import sign_in


@pytest.fixture
def editor_client(client, editor):
    sign_in(client, editor)
    return client


def test_new_issues_start_with_the_defaults(editor_client, session):
    html = editor_client.get("/admin/issues/new").get_data(as_text=True)
    assert '<option selected value="members">Members who can read it</option>' in html
    assert "Replies by email go to you only" in html and "One-click ratings in the email" in html
    assert save(editor_client, title="Plain").status_code == 302
    issue = session.scalar(select(Issue).where(Issue.slug == "plain"))
    assert (issue.discussion, issue.mailed_replies, issue.feedback_choices) == (
        "members",
        "private",
        0,
    )


def test_the_editor_saves_discussion_settings(editor_client, session):
    fields = {"discussion": "paid", "mailed_replies": "public", "feedback_choices": "5"}
    assert save(editor_client, title="Talk", **fields).status_code == 302
    issue = session.scalar(select(Issue).where(Issue.slug == "talk"))
    assert (issue.discussion, issue.mailed_replies, issue.feedback_choices) == ("paid", "public", 5)
    page = editor_client.get(f"/admin/issues/{issue.id}").get_data(as_text=True)
    assert '<option selected value="paid">Paid members only</option>' in page
    assert '<option selected value="public">' in page and '<option selected value="5">' in page
    changed = save(editor_client, f"/admin/issues/{issue.id}", title="Talk", slug="talk",
                   discussion="off", mailed_replies="private", feedback_choices="3")  # fmt: skip
    assert changed.status_code == 302
    session.expire_all()
    assert (issue.discussion, issue.mailed_replies, issue.feedback_choices) == ("off", "private", 3)


@pytest.mark.parametrize(
    ("field", "value"),
    [("discussion", "everyone"), ("mailed_replies", "loud"), ("feedback_choices", "4"),
     ("feedback_choices", "x")],
)  # fmt: skip
def test_unknown_settings_are_refused(editor_client, session, field, value):
    response = save(editor_client, title="Odd", body_markdown="Kept words", **{field: value})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "Nothing was saved" in html and "Kept words" in html
    assert session.scalar(select(Issue).where(Issue.slug == "odd")) is None
