"""Search, the sitemap, robots.txt and the JSON Feed."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from flask_migrate import upgrade
from sqlalchemy import column, insert, select, table

from app import create_app
from app.db import utcnow
from app.issues import search, service
from app.issues.models import Issue
from tests.conftest import SECRET, make_member, sign_in

SECRET_SENTENCE = "The buffer fund holds exactly 1234 euros."
SITEMAP = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


def publish(session, days_ago: int = 1, **fields):
    issue = service.save_issue(session, fields)
    service.publish(session, issue, at=utcnow() - timedelta(days=days_ago))
    session.commit()
    return issue


def find(client, q: str, **params) -> str:
    response = client.get("/search", query_string={"q": q, **params})
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def found_slugs(html: str) -> list[str]:
    results = html.split('class="issue-list"', 1)[1] if 'class="issue-list"' in html else ""
    return re.findall(r'<h2><a href="/issues/([a-z0-9-]+)">', results)


@pytest.fixture
def gated(session):
    return publish(
        session,
        title="Paid notes",
        visibility="paid",
        excerpt="A summary anyone may read.",
        body_markdown=f"Free opening about bakeries.\n\n<!-- more -->\n\n{SECRET_SENTENCE}",
    )


# Search: the page itself


def test_the_search_page_is_a_labelled_form_that_works_without_a_query(client):
    response = client.get("/search")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<form method="get" action="/search" role="search"' in html
    assert '<label for="search-q">' in html and 'id="search-q"' in html and 'name="q"' in html
    assert '<meta name="robots" content="noindex">' in html
    assert 'role="status"' not in html  # nothing searched, nothing to report
    assert 'href="/search"' in client.get("/").get_data(as_text=True)  # linked from every page


@pytest.mark.parametrize("q", ["", "   ", "\t\n"])
def test_an_empty_query_shows_the_form_and_no_results(client, session, q):
    publish(session, title="Anything")
    html = find(client, q)
    assert found_slugs(html) == [] and "No issues match" not in html


# Search: what it finds


def test_search_finds_a_word_deep_in_a_public_body_and_marks_it(client, session):
    filler = " ".join(f"word{n}" for n in range(200))
    publish(
        session,
        title="Long read",
        excerpt="About flour.",
        body_markdown=f"{filler} the Levain rises overnight. {filler}",
    )
    html = find(client, "levain")
    assert found_slugs(html) == ["long-read"]
    snippet = re.search(r"<p>(…[^<]*<mark>Levain</mark>[^<]*…)</p>", html)
    assert snippet, html
    assert len(snippet.group(1)) < search.SNIPPET_CHARS + 40
    assert "1 issue matches “levain”" in html


@pytest.mark.parametrize("q", ["éclair", "ÉCLAIR", "Éclair", "STRASSE", "straße"])
def test_search_ignores_case_beyond_ascii(client, session, q):
    publish(session, title="Pastry", body_markdown="An Éclair from the Straße corner.")
    assert found_slugs(find(client, q)) == ["pastry"]


def test_every_word_must_match_somewhere_readable(client, session):
    publish(session, title="Apples", subtitle="Orchards", body_markdown="Green levain.")
    assert found_slugs(find(client, "orchards levain")) == ["apples"]
    assert found_slugs(find(client, "levain zebra")) == []


def test_a_title_match_shows_the_summary(client, session):
    publish(session, title="Crumb report", excerpt="How the loaves turned out.")
    html = find(client, "crumb")
    assert found_slugs(html) == ["crumb-report"] and "How the loaves turned out." in html


def test_only_issues_on_the_web_are_found(client, session):
    publish(session, title="Live dough")
    service.save_issue(session, {"title": "Draft dough"})
    publish(session, title="Later dough", days_ago=-1)
    publish(session, title="Mailed dough", email_only=True)
    session.commit()
    assert found_slugs(find(client, "dough")) == ["live-dough"]


def test_newest_issues_come_first(client, session):
    publish(session, title="Old rye", days_ago=5)
    publish(session, title="New rye", days_ago=1)
    assert found_slugs(find(client, "rye")) == ["new-rye", "old-rye"]


# Search: gating


def test_a_word_after_the_marker_finds_nothing_for_readers_without_access(client, session, gated):
    for viewer in (None, make_member(session, tier="free")):
        reader = client.application.test_client()
        if viewer is not None:
            sign_in(reader, viewer)
        for q in ("buffer", "1234 euros", "buffer opening"):
            html = find(reader, q)
            assert found_slugs(html) == [] and "Paid notes" not in html, (viewer, q)
            assert SECRET_SENTENCE not in html and "No issues match" in html
        for q in ("paid notes", "summary anyone", "bakeries", "OPENING"):
            html = find(reader, q)
            assert found_slugs(html) == ["paid-notes"], (viewer, q)
            assert SECRET_SENTENCE not in html


@pytest.mark.parametrize("tier", ["paid", "invite"])
def test_readers_with_access_search_the_whole_body(client, session, gated, tier):
    sign_in(client, make_member(session, tier=tier))
    response = client.get("/search", query_string={"q": "buffer"})
    html = response.get_data(as_text=True)
    assert found_slugs(html) == ["paid-notes"] and "<mark>buffer</mark>" in html
    assert "no-store" in response.headers["Cache-Control"]


def test_editors_search_everything(client, session, gated, editor):
    sign_in(client, editor)
    assert found_slugs(find(client, "euros")) == ["paid-notes"]


def test_without_a_marker_only_title_subtitle_and_excerpt_are_searchable(client, session):
    publish(
        session,
        title="Members only",
        subtitle="A quiet note",
        visibility="members",
        excerpt="Just the excerpt.",
        body_markdown=SECRET_SENTENCE,
    )
    assert found_slugs(find(client, "buffer")) == []
    html = find(client, "quiet")
    assert found_slugs(html) == ["members-only"] and SECRET_SENTENCE not in html
    assert "Just the <mark>excerpt</mark>." in find(client, "excerpt")
    member = client.application.test_client()
    sign_in(member, make_member(session, tier="free"))
    assert found_slugs(find(member, "buffer")) == ["members-only"]


def test_the_sql_filter_asks_the_policy_for_each_visibility(session):
    class Anonymous:
        is_authenticated = False

    class Free:
        is_authenticated, is_editor, status, tier = True, False, "active", "free"

    assert search.full_text_visibilities(None) == ["public"]
    assert search.full_text_visibilities(Anonymous()) == ["public"]
    assert search.full_text_visibilities(Free()) == ["public", "members"]


# Search: hostile and odd input


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("50%", ["sale"]),
        ("%", ["sale"]),
        ("_", ["snake"]),
        ("snake_case", ["snake"]),
        ("a\\b", ["slash"]),
        ("\\", ["slash"]),
        ("%%%", []),
    ],
)
def test_like_wildcards_in_queries_are_literal(client, session, q, expected):
    publish(session, title="Sale", body_markdown="Everything 50% off.")
    publish(session, title="Snake", body_markdown="We write snake_case names.")
    publish(session, title="Slash", body_markdown="The path a\\b is odd.")
    publish(session, title="Plain", body_markdown="Nothing special here at all.")
    assert found_slugs(find(client, q)) == expected


def test_markup_in_a_query_is_shown_as_text(client, session):
    publish(session, title="Tags", body_markdown="Write `<b>` for bold.")
    html = find(client, "<script>alert(1)</script>")
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    html = find(client, "<b>")
    assert found_slugs(html) == ["tags"] and "<mark>&lt;b&gt;</mark>" in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "x" * (search.MAX_QUERY_CHARS + 1)}, "to 200 characters at most"),
        ({"q": " ".join(f"w{n}" for n in range(search.MAX_WORDS + 1))}, "at most 10 words"),
    ],
)
def test_queries_too_long_get_a_clear_message(client, params, message):
    response = client.get("/search", query_string=params)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and message in html
    assert 'aria-invalid="true"' in html and 'id="search-q"' in html


@pytest.mark.parametrize("page", ["0", "abc", "-1", "²", "99999999999999999999", "3"])
def test_bad_or_missing_pages_are_not_found(client, session, page):
    publish(session, title="Rye")
    assert client.get("/search", query_string={"q": "rye", "page": page}).status_code == 404


def test_a_nul_byte_is_refused_cleanly(client):
    assert client.get("/search?q=a%00b").status_code == 400


def test_results_are_paginated(client, session):
    for number in range(search.PER_PAGE + 5):
        publish(session, title=f"Bake {number}", days_ago=number + 1)
    first = find(client, "bake")
    assert len(found_slugs(first)) == search.PER_PAGE and found_slugs(first)[0] == "bake-0"
    assert "25 issues match" in first and 'rel="next" href="/search?q=bake&amp;page=2"' in first
    second = find(client, "bake", page="2")
    assert found_slugs(second) == [f"bake-{n}" for n in range(20, 25)]
    assert 'rel="prev"' in second and 'rel="next"' not in second


def test_search_pages_stay_out_of_the_page_cache(app, client, session):
    publish(session, title="Cached rye")
    find(client, "rye")
    client.get("/sitemap.xml")
    keys = app.extensions["kith.page_cache"].pages
    assert "/sitemap.xml?" in keys  # the cache works...
    assert not any(key.startswith("/search") for key in keys)  # ...and search stays out


def test_a_signed_in_readers_results_never_reach_an_anonymous_one(app, session, gated, editor):
    signed_in = app.test_client()
    sign_in(signed_in, editor)
    assert found_slugs(find(signed_in, "buffer")) == ["paid-notes"]
    anonymous = app.test_client()
    assert found_slugs(find(anonymous, "buffer")) == []


# Sitemap and robots.txt


def test_sitemap_lists_home_archive_and_every_web_issue(client, session):
    issues = [publish(session, title=f"Loaf {n}", days_ago=n + 1) for n in range(21)]
    service.save_issue(session, {"title": "Draft loaf"})
    publish(session, title="Later loaf", days_ago=-1)
    publish(session, title="Mailed loaf", email_only=True)
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(response.data)
    urls = {
        url.find("s:loc", SITEMAP).text: getattr(url.find("s:lastmod", SITEMAP), "text", None)
        for url in root.findall("s:url", SITEMAP)
    }
    expected = {"http://localhost/", "http://localhost/archive", "http://localhost/archive?page=2"}
    expected |= {f"http://localhost/issues/{issue.slug}" for issue in issues}
    assert set(urls) == expected
    first = issues[0]
    assert urls[f"http://localhost/issues/{first.slug}"] == (
        first.updated_at.replace(microsecond=0).isoformat()
    )
    assert b"<p>" not in response.data and b"Loaf 0" not in response.data  # URLs only


def test_robots_txt_points_at_the_sitemap_and_keeps_crawlers_out_of_private_pages(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    lines = response.get_data(as_text=True).splitlines()
    assert lines[0] == "User-agent: *"
    assert {"Disallow: /admin", "Disallow: /account"} <= set(lines)
    assert "Sitemap: http://localhost/sitemap.xml" in lines


# JSON Feed


def test_json_feed_mirrors_the_atom_feed_with_public_content_only(client, session, gated):
    publish(session, title="Open letter", body_markdown="Everyone may read *this*.")
    publish(
        session,
        title="Members note",
        visibility="members",
        excerpt="Only the excerpt.",
        body_markdown="Hidden words.",
        days_ago=2,
    )
    response = client.get("/feed.json")
    assert response.headers["Content-Type"] == "application/feed+json; charset=utf-8"
    feed = json.loads(response.data)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] and feed["feed_url"] == "http://localhost/feed.json"
    assert feed["home_page_url"] == "http://localhost/"
    for item in feed["items"]:
        assert {"id", "url", "title", "date_published"} <= set(item)
        assert "content_html" in item or "content_text" in item
        assert item["id"] == item["url"] and item["url"].startswith("http://localhost/issues/")
    atom = ET.fromstring(client.get("/feed.xml").data)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    atom_ids = [entry.find("a:id", ns).text for entry in atom.findall("a:entry", ns)]
    assert [item["id"] for item in feed["items"]] == atom_ids
    by_title = {item["title"]: item for item in feed["items"]}
    assert "Everyone may read <em>this</em>." in by_title["Open letter"]["content_html"]
    assert "Free opening" in by_title["Paid notes"]["content_html"]
    assert by_title["Paid notes"]["summary"] == "A summary anyone may read."
    assert by_title["Members note"]["content_text"] == "Only the excerpt."
    body = response.get_data(as_text=True)
    assert SECRET_SENTENCE not in body and "Hidden words" not in body


def test_pages_announce_the_json_feed(client):
    html = client.get("/").get_data(as_text=True)
    assert '<link rel="alternate" type="application/feed+json"' in html
    assert 'href="/feed.json"' in html


def test_the_json_feed_is_the_same_for_signed_in_readers(app, session, gated, editor):
    reader = app.test_client()
    sign_in(reader, editor)
    assert SECRET_SENTENCE not in reader.get("/feed.json").get_data(as_text=True)


# The stored search text


def test_search_text_is_stored_on_save_and_follows_edits(session):
    issue = service.save_issue(
        session,
        {
            "title": "Rye Days",
            "excerpt": "About RYE.",
            "visibility": "paid",
            "body_markdown": "## Start\n\nOpen *part*.\n\n<!-- more -->\n\nClosed part.",
        },
    )
    assert issue.search_teaser == "rye days about rye. start open part."
    assert issue.search_body == "start open part. closed part."
    service.save_issue(session, {"title": "Spelt Days"}, issue_id=issue.id)
    assert issue.search_teaser.startswith("spelt days ")


OLD_ISSUE_ROW = {
    "slug": "old-issue",
    "title": "Old Issue",
    "subtitle": "Sub",
    "excerpt": "Ex",
    "body_markdown": "",
    "has_more_marker": True,
    "word_count": 3,
    "reading_minutes": 1,
    "visibility": "members",
    "status": "published",
    "email_only": False,
    "source": "editor",
    "created_at": "2026-01-01 00:00:00",
    "updated_at": "2026-01-01 00:00:00",
}


def test_the_migration_backfills_existing_issues(tmp_path):
    app = create_app(
        {
            "database_url": f"sqlite:///{tmp_path}/old.db",
            "instance_path": tmp_path,
            "secret_key": SECRET,
        }
    )
    engine = app.extensions["kith.db"].engine
    rendered_teaser = "<p>Open <em>Part</em>.</p>"
    rendered_body = rendered_teaser + '\n<h2 id="x">Ünder <a class="header-anchor">#</a></h2>'
    old = table("issues", *(column(name) for name in [*OLD_ISSUE_ROW, "teaser_html", "body_html"]))
    with app.app_context():
        upgrade(revision="c372006f1957-1")
        with engine.begin() as connection:
            connection.execute(
                insert(old).values(
                    **OLD_ISSUE_ROW, teaser_html=rendered_teaser, body_html=rendered_body
                )
            )
        upgrade(revision="c372006f1957")
    with engine.connect() as connection:
        row = connection.execute(select(Issue.search_teaser, Issue.search_body)).one()
    assert tuple(row) == service.search_texts(
        "Old Issue", "Sub", "Ex", rendered_teaser, rendered_body
    )
    assert tuple(row) == ("old issue sub ex open part.", "open part. ünder")
    engine.dispose()
