"""``content/*.md`` sync: idempotent by slug, and one bad file never stops the others."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from app.config import PROJECT_ROOT
from app.issues import content, service
from app.issues.models import Issue, Publication

GOOD = """---
title: Good one
slug: good-one
excerpt: A fine issue.
visibility: members
published_at: 2026-01-02T08:00:00Z
---
Teaser.

<!-- more -->

The rest.
"""


def write(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def issue_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Issue))


def test_sync_creates_then_reports_unchanged_then_updates(session, content_dir):
    write(content_dir, "a.md", GOOD)
    report = content.sync_directory(session, content_dir)
    assert (report.created, report.errors) == (["a.md"], [])
    issue = session.scalar(select(Issue).where(Issue.slug == "good-one"))
    assert issue.is_published and issue.visibility == "members" and issue.source == "file"
    assert issue.published_at.isoformat() == "2026-01-02T08:00:00+00:00"
    assert "The rest." in issue.body_html and "The rest." not in issue.teaser_html

    again = content.sync_directory(session, content_dir)
    assert again.unchanged == ["a.md"] and again.created == again.updated == []

    write(content_dir, "a.md", GOOD.replace("The rest.", "The new rest."))
    third = content.sync_directory(session, content_dir)
    assert third.updated == ["a.md"]
    assert "The new rest." in session.get(Issue, issue.id).body_html
    assert issue_count(session) == 1


def test_without_published_at_a_file_is_a_draft(session, content_dir):
    write(content_dir, "draft.md", "---\ntitle: Not yet\n---\nBody")
    content.sync_directory(session, content_dir)
    issue = session.scalar(select(Issue).where(Issue.slug == "draft"))
    assert issue.status == "draft" and issue.published_at is None


BAD_FILES = {
    "broken-yaml.md": (
        "---\ntitle: [unclosed\n---\nBody",
        "front matter is not valid YAML at line",
    ),
    "no-front-matter.md": ("Just markdown, no metadata.", "no front matter"),
    "no-title.md": ("---\nslug: x\n---\nBody", "needs a 'title'"),
    "bad-visibility.md": ("---\ntitle: T\nvisibility: secret\n---\n", "visibility must be one of"),
    "bad-date.md": ("---\ntitle: T\npublished_at: next tuesday\n---\n", "published_at must be"),
    "bad-slug.md": ("---\ntitle: T\nslug: Not A Slug!\n---\n", "slug: Use lower-case"),
    "typo-key.md": (
        "---\ntitle: T\nvisiblity: public\n---\n",
        "unknown front matter key(s): visiblity",
    ),
    "latin1.md": ("---\ntitle: Caf\xe9\n---\n".encode("latin-1"), "not UTF-8"),
    "bad-flag.md": ("---\ntitle: T\nemail_only: maybe\n---\n", "email_only must be true or false"),
    "bad-month.md": ("---\ntitle: T\npublished_at: 2026-13-45\n---\n", "front matter is not valid"),
    "far-future.md": (
        "---\ntitle: T\npublished_at: 9999-12-31T23:59:59-12:00\n---\n",
        "out of range",
    ),
    "mixed-keys.md": ("---\n1: a\ntitle: T\n---\n", "front matter"),
    "nul.md": ("---\ntitle: T\n---\nbody\x00", "NUL character"),
}


def test_each_malformed_file_is_named_with_its_reason_and_the_rest_sync(session, content_dir):
    write(content_dir, "good.md", GOOD)
    for name, (text, _) in BAD_FILES.items():
        write(content_dir, name, text)
    report = content.sync_directory(session, content_dir)
    assert report.created == ["good.md"]
    reasons = dict(report.errors)
    assert set(reasons) == set(BAD_FILES)
    for name, (_, expected) in BAD_FILES.items():
        assert expected in reasons[name], (name, reasons[name])
    assert issue_count(session) == 1  # nothing half-saved from the bad files


def test_duplicate_slugs_keep_the_first_and_name_the_second(session, content_dir):
    write(content_dir, "a.md", GOOD)
    write(content_dir, "b.md", GOOD.replace("Good one", "Impostor"))
    report = content.sync_directory(session, content_dir)
    assert report.created == ["a.md"]
    assert report.errors == [("b.md", "slug 'good-one' is also used by a.md")]
    assert session.scalar(select(Issue.title).where(Issue.slug == "good-one")) == "Good one"


def test_a_file_never_overwrites_an_issue_written_in_the_browser(session, content_dir):
    service.save_issue(
        session, {"title": "Mine", "slug": "good-one", "body_markdown": "hand written"}
    )
    write(content_dir, "a.md", GOOD)
    report = content.sync_directory(session, content_dir)
    assert report.errors and "written in the browser" in report.errors[0][1]
    assert "hand written" in session.scalar(select(Issue.body_html).where(Issue.slug == "good-one"))


def test_publication_file_names_the_publication(session, content_dir):
    write(content_dir, "publication.yml", "name: Crumb Club\ndescription: Bread, mostly.\n")
    content.sync_directory(session, content_dir)
    assert session.get(Publication, 1).name == "Crumb Club"


def test_the_shipped_demo_content_syncs_cleanly(session):
    report = content.sync_directory(session, PROJECT_ROOT / "content")
    assert report.errors == [] and len(report.created) >= 3
    bodies = " ".join(session.scalars(select(Issue.body_html)).all())
    for feature in ("<table>", "<pre><code", "footnote-ref", "<blockquote>", "<h2 id="):
        assert feature in bodies, feature
