"""Saving, validating and publishing issues."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.db import utcnow
from app.issues import service
from app.issues.models import Issue


def test_save_renders_once_and_derives_the_slug(session):
    issue = service.save_issue(
        session, {"title": "Crumb & Crust: Part 1", "body_markdown": "## Hi\n\nText"}
    )
    assert issue.slug == "crumb-crust-part-1"
    assert '<h2 id="hi">' in issue.body_html and issue.status == "draft"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title": ""}, "title", "required"),
        ({"title": "x" * 301}, "title", "under 300"),
        ({"title": "T", "slug": "Bad Slug"}, "slug", "lower-case"),
        ({"title": "T", "slug": "a--b"}, "slug", "lower-case"),
        ({"title": "T", "visibility": "everyone"}, "visibility", "Choose one of"),
        ({"title": "!!!"}, "slug", "required"),
    ],
)
def test_invalid_fields_are_reported_and_nothing_is_saved(session, fields, field, message):
    with pytest.raises(service.IssueError) as raised, session.begin_nested():
        service.save_issue(session, fields)
    assert message in raised.value.errors[field]
    assert session.scalar(select(func.count()).select_from(Issue)) == 0


def test_duplicate_slug_is_refused(session):
    service.save_issue(session, {"title": "One", "slug": "same"})
    with pytest.raises(service.IssueError, match="already used"):
        service.save_issue(session, {"title": "Two", "slug": "same"})


def test_only_published_past_web_issues_are_listed(session):
    now = utcnow()
    live = service.publish(session, service.save_issue(session, {"title": "Live"}))
    service.save_issue(session, {"title": "Draft"})
    service.publish(
        session, service.save_issue(session, {"title": "Later"}), at=now + timedelta(days=1)
    )
    service.publish(
        session, service.save_issue(session, {"title": "Mail only", "email_only": True})
    )
    page = service.published_page(session, 1, 10)
    assert [issue.slug for issue in page.items] == [live.slug]
    assert service.published_by_slug(session, "later") is None
    assert service.published_by_slug(session, "mail-only") is None


def test_republishing_keeps_the_first_publication_date(session):
    issue = service.publish(session, service.save_issue(session, {"title": "Once"}))
    first = issue.published_at
    service.unpublish(session, issue)
    assert service.publish(session, issue).published_at == first


def test_every_change_moves_the_cache_version(session):
    before = service.cache_version(session)
    issue = service.save_issue(session, {"title": "V"})
    middle = service.cache_version(session)
    service.publish(session, issue)
    assert before != middle != service.cache_version(session)


def test_pages_count_and_bound(session):
    for number in range(25):
        service.publish(
            session,
            service.save_issue(session, {"title": f"Issue {number}"}),
            at=utcnow() - timedelta(days=number + 1),
        )
    first, second = service.published_page(session, 1, 20), service.published_page(session, 2, 20)
    assert (len(first.items), len(second.items), first.pages) == (20, 5, 2)
    assert first.items[0].slug == "issue-0" and second.items[-1].slug == "issue-24"
    assert first.has_next and not second.has_next and second.has_previous
