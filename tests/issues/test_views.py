"""Public pages: home, archive, issue pages, the feed, health and errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest

from app.db import Database, utcnow
from app.issues import service
from tests.conftest import make_member, sign_in

SECRET_SENTENCE = "The buffer fund holds exactly 1234 euros."


def publish(session, days_ago: int = 1, **fields):
    issue = service.save_issue(session, fields)
    service.publish(session, issue, at=utcnow() - timedelta(days=days_ago))
    session.commit()
    return issue


@pytest.fixture
def gated(session):
    return publish(
        session,
        title="Paid notes",
        visibility="paid",
        excerpt="A summary anyone may read.",
        body_markdown=f"Free opening.\n\n<!-- more -->\n\n{SECRET_SENTENCE}",
    )


def test_home_lists_latest_issues(client, session):
    publish(session, title="Older", days_ago=3)
    publish(session, title="Newer", days_ago=1, excerpt="Fresh bread")
    html = client.get("/").get_data(as_text=True)
    assert html.index("Newer") < html.index("Older") and "Fresh bread" in html


def test_issue_page_has_reading_time_anchors_and_meta(client, session):
    publish(
        session,
        title="Proofing",
        subtitle="Slow",
        excerpt="About proofing",
        body_markdown="## First step\n\n" + "dough " * 500,
    )
    response = client.get("/issues/proofing")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "3 min read" in html and 'id="first-step"' in html and 'href="#first-step"' in html
    assert '<meta property="og:description" content="About proofing">' in html
    assert "Content-Security-Policy" in response.headers


def test_gated_issue_shows_teaser_and_excerpt_but_never_the_body(client, gated):
    html = client.get(f"/issues/{gated.slug}").get_data(as_text=True)
    assert "Free opening." in html and "This issue is for paid members" in html
    assert SECRET_SENTENCE not in html


def test_gated_issue_without_marker_shows_the_excerpt_only(client, session):
    issue = publish(
        session,
        title="Members",
        visibility="members",
        excerpt="Just the excerpt.",
        body_markdown=SECRET_SENTENCE,
    )
    html = client.get(f"/issues/{issue.slug}").get_data(as_text=True)
    assert "Just the excerpt." in html and SECRET_SENTENCE not in html


def test_editors_read_everything(client, session, gated, editor):
    sign_in(client, editor)
    assert SECRET_SENTENCE in client.get(f"/issues/{gated.slug}").get_data(as_text=True)


def test_signed_in_free_member_does_not_read_gated_body(client, session, gated):
    sign_in(client, make_member(session))
    assert SECRET_SENTENCE not in client.get(f"/issues/{gated.slug}").get_data(as_text=True)


def test_feed_is_valid_atom_with_public_content_only(client, session, gated):
    publish(session, title="Open letter", body_markdown="Everyone may read *this*.")
    response = client.get("/feed.xml")
    assert response.headers["Content-Type"].startswith("application/atom+xml")
    body = response.get_data(as_text=True)
    root = ET.fromstring(response.data)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [entry.find("a:title", ns).text for entry in root.findall("a:entry", ns)]
    assert titles == ["Open letter", "Paid notes"]
    assert "Everyone may read" in body and SECRET_SENTENCE not in body
    assert "http://localhost/issues/open-letter" in body


def test_archive_paginates_and_rejects_out_of_range_pages(client, session):
    for number in range(23):
        publish(session, title=f"Issue {number}", days_ago=number + 1)
    first = client.get("/archive").get_data(as_text=True)
    second = client.get("/archive?page=2").get_data(as_text=True)
    assert "Issue 0" in first and "Issue 22" not in first and 'rel="next"' in first
    assert "Issue 22" in second and 'rel="prev"' in second
    for bad in ("/archive?page=3", "/archive?page=0", "/archive?page=abc"):
        assert client.get(bad).status_code == 404


@pytest.mark.parametrize("path", ["/nothing-here", "/issues/no-such-issue", "/issues/draft-one"])
def test_unknown_urls_get_a_clean_404_page(client, session, path):
    service.save_issue(session, {"title": "Draft one"})
    response = client.get(path)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Page not found" in html and "Traceback" not in html


def test_with_the_database_down_pages_answer_503_not_a_traceback(app, client):
    app.extensions["kith.db"] = Database.connect("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert client.get("/healthz").status_code == 503
    for path in ("/", "/issues/anything", "/archive"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert "Back in a moment" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/archive?page=%C2%B2",
        "/archive?page=99999999999999999999999",
        "/issues/a%00b",
        "/issues/..%2f",
    ],
)
def test_hostile_urls_get_clean_answers(client, path):
    assert client.get(path).status_code in (400, 404)


def test_junk_query_strings_are_not_cached(app, client, session):
    publish(session, title="Plain")
    for number in range(5):
        assert client.get(f"/issues/plain?junk={number}").status_code == 200
    assert not any("junk" in key for key in app.extensions["kith.page_cache"].pages)


def test_page_cache_serves_anonymous_pages_until_content_changes(app, client, session):
    issue = publish(session, title="Cached", body_markdown="First version.")
    cache = app.extensions["kith.page_cache"]
    cache.ttl = 3600  # pretend a long interval: only invalidation may refresh it
    cache.invalidate()
    assert "First version." in client.get("/issues/cached").get_data(as_text=True)
    service.save_issue(session, {"body_markdown": "Second version."}, issue_id=issue.id)
    session.commit()
    assert "First version." in client.get("/issues/cached").get_data(as_text=True)  # cached
    cache.invalidate()
    assert "Second version." in client.get("/issues/cached").get_data(as_text=True)


def test_a_scheduled_issue_appears_when_its_time_comes_without_an_edit(app, client, session):
    issue = publish(session, title="Soon", days_ago=-1)
    app.extensions["kith.page_cache"].invalidate()
    assert client.get("/issues/soon").status_code == 404
    issue.published_at = utcnow() - timedelta(
        seconds=1
    )  # time passes; content_version does not move
    session.commit()
    app.extensions["kith.page_cache"].invalidate()
    assert client.get("/issues/soon").status_code == 200


def test_cached_pages_never_reach_signed_in_readers_and_vice_versa(
    app, client, session, gated, editor
):
    anonymous = app.test_client()
    first = anonymous.get(f"/issues/{gated.slug}")
    assert SECRET_SENTENCE not in first.get_data(as_text=True)
    assert first.headers.get("Vary") == "Cookie" and "Content-Security-Policy" in first.headers
    sign_in(client, editor)
    assert SECRET_SENTENCE in client.get(f"/issues/{gated.slug}").get_data(as_text=True)
    again = anonymous.get(f"/issues/{gated.slug}")
    assert SECRET_SENTENCE not in again.get_data(as_text=True)
    assert again.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]


def test_a_slow_render_of_old_content_never_outlives_a_change(app, client, session, monkeypatch):
    """An edit lands while an anonymous page is rendering: the stale page is not kept."""
    issue = publish(session, title="Racy", body_markdown="Old words.")
    cache = app.extensions["kith.page_cache"]
    cache.ttl = 3600
    real = service.published_by_slug

    def render_then_edit(db_session, slug):
        found = real(db_session, slug)  # the old content is read...
        service.save_issue(
            session, {"visibility": "paid"}, issue_id=issue.id
        )  # ...then an edit commits
        session.commit()
        with app.app_context():
            cache.invalidate()
            cache.refresh()  # another request starts a new generation
        return found

    monkeypatch.setattr(service, "published_by_slug", render_then_edit)
    assert "Old words." in client.get("/issues/racy").get_data(as_text=True)
    assert "/issues/racy?" not in cache.pages
