"""The rules for writing, publishing and listing issues."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import utcnow
from app.issues.models import (
    DISCUSSION_SETTINGS,
    MAILED_REPLIES,
    VISIBILITIES,
    Issue,
    Publication,
)
from app.issues.rendering import render_body
from app.pagination import Page

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
EDITABLE_FIELDS = (
    "title",
    "subtitle",
    "slug",
    "excerpt",
    "body_markdown",
    "visibility",
    "email_only",
    "discussion",
    "mailed_replies",
    "feedback_choices",
)
FEEDBACK_CHOICES = (0, 3, 5)  # how many one-click ratings an issue email may carry


class IssueError(ValueError):
    """An issue could not be saved; ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(f"{field}: {message}" for field, message in self.errors.items()))


def slugify(text: str) -> str:
    """A URL slug from a title: ASCII letters and digits joined by single hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:120].strip("-")


def save_issue(
    session: Session,
    fields: Mapping[str, Any],
    *,
    issue_id: int | None = None,
    source: str = "editor",
) -> Issue:
    """Create or update an issue from editor or file input; render its body once, here."""
    issue = session.get(Issue, issue_id) if issue_id is not None else _new_issue(source)
    if issue is None:
        raise LookupError(f"no issue with id {issue_id}")
    values = _clean_fields(fields)
    _validate(session, values, issue)
    for name, value in values.items():
        setattr(issue, name, value)
    rendered = render_body(issue.body_markdown)
    issue.body_html = rendered.html
    issue.teaser_html = rendered.teaser_html
    issue.has_more_marker = rendered.has_more_marker
    issue.word_count = rendered.word_count
    issue.reading_minutes = rendered.reading_minutes
    issue.search_teaser, issue.search_body = search_texts(
        issue.title, issue.subtitle, issue.excerpt, rendered.teaser_html, rendered.html
    )
    issue.updated_at = utcnow()
    session.add(issue)
    try:
        session.flush()
    except IntegrityError as error:  # two saves raced for one slug: the check above saw neither
        raise IssueError(
            {"slug": f"The slug '{issue.slug}' is already used by another issue."}
        ) from error
    content_changed(session)
    return issue


# Only the renderer's own sanitized output reaches these, and nh3 escapes "<" and ">" inside
# attribute values, so a tag always runs from "<" to the next ">".
_PERMALINK = re.compile(r'<a [^>]*class="(?:header-anchor|footnote-backref)"[^>]*>[^<]*</a>')
_BLOCK_TAG = re.compile(
    r"</?(?:p|h[1-6]|li|ol|ul|blockquote|pre|br|hr|table|thead|tbody|tr|td|th|section)\b[^>]*>"
)
_TAG = re.compile(r"<[^>]*>")


def plain_text(rendered_html: str) -> str:
    """The words of rendered issue HTML, on one line: for search columns and snippets."""
    text = _TAG.sub("", _BLOCK_TAG.sub(" ", _PERMALINK.sub("", rendered_html)))
    return " ".join(html.unescape(text).split())


def search_fold(text: str) -> str:
    """How stored text and queries are compared: case-folded, whitespace collapsed.

    Folding in Python, not with SQL ``lower()``, makes "É" find "é" on SQLite too (whose
    ``lower()`` and ``LIKE`` only fold ASCII).
    """
    return " ".join(text.casefold().split())


def search_texts(
    title: str, subtitle: str, excerpt: str, teaser_html: str, body_html: str
) -> tuple[str, str]:
    """The two search columns: what every reader may search (title, subtitle, excerpt and the
    teaser before ``<!-- more -->``), and the whole body, searched only for readers with access."""
    public = " ".join((title or "", subtitle or "", excerpt or "", plain_text(teaser_html or "")))
    return search_fold(public), search_fold(plain_text(body_html or ""))


def _new_issue(source: str) -> Issue:
    return Issue(
        source=source, title="", subtitle="", slug="", excerpt="", body_markdown="",
        visibility="public", status="draft", email_only=False,
    )  # fmt: skip


def _clean_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    values = {name: fields[name] for name in EDITABLE_FIELDS if name in fields}
    for name in ("title", "subtitle", "slug", "excerpt"):
        if name in values:
            values[name] = (values[name] or "").strip()
    if "body_markdown" in values:
        values["body_markdown"] = (values["body_markdown"] or "").replace("\r\n", "\n")
    if "email_only" in values:
        values["email_only"] = bool(values["email_only"])
    if "feedback_choices" in values:
        choices = str(values["feedback_choices"] or "0")
        values["feedback_choices"] = int(choices) if choices.isdigit() else -1
    if not values.get("slug") and values.get("title"):
        values["slug"] = slugify(values["title"])
    return values


def _validate(session: Session, values: Mapping[str, Any], issue: Issue) -> None:
    errors: dict[str, str] = {}
    title = values.get("title", issue.title)
    if not title:
        errors["title"] = "A title is required."
    elif len(title) > 300:
        errors["title"] = "Keep the title under 300 characters."
    slug = values.get("slug", issue.slug)
    if not slug:
        errors["slug"] = "A slug is required (letters, digits and hyphens)."
    elif len(slug) > 120 or not SLUG_PATTERN.match(slug):
        errors["slug"] = "Use lower-case letters, digits and single hyphens, at most 120."
    else:
        taken = session.scalar(select(Issue.id).where(Issue.slug == slug, Issue.id != issue.id))
        if taken is not None:
            errors["slug"] = f"The slug '{slug}' is already used by another issue."
    if values.get("visibility", issue.visibility or "public") not in VISIBILITIES:
        errors["visibility"] = f"Choose one of: {', '.join(VISIBILITIES)}."
    if len(values.get("subtitle") or "") > 300:
        errors["subtitle"] = "Keep the subtitle under 300 characters."
    if values.get("discussion", issue.discussion or "members") not in DISCUSSION_SETTINGS:
        errors["discussion"] = f"Choose one of: {', '.join(DISCUSSION_SETTINGS)}."
    if values.get("mailed_replies", issue.mailed_replies or "private") not in MAILED_REPLIES:
        errors["mailed_replies"] = f"Choose one of: {', '.join(MAILED_REPLIES)}."
    if values.get("feedback_choices", issue.feedback_choices or 0) not in FEEDBACK_CHOICES:
        errors["feedback_choices"] = "Offer 0, 3 or 5 feedback choices."
    if errors:
        raise IssueError(errors)


EDITOR_ACTIONS = ("save", "publish", "unpublish")


def edit_issue(
    session: Session, fields: Mapping[str, Any], *, issue_id: int | None, action: str = "save"
) -> Issue:
    """What the editor's buttons do: save, and then publish or unpublish, as one change."""
    if action not in EDITOR_ACTIONS:
        raise IssueError({"action": f"Unknown action {action!r}."})
    issue = save_issue(session, fields, issue_id=issue_id)
    if action == "publish":
        publish(session, issue)
    elif action == "unpublish":
        unpublish(session, issue)
    return issue


def publish(session: Session, issue: Issue, *, at: datetime | None = None) -> Issue:
    """Make an issue visible on the web (its first publication date is kept on re-publish)."""
    issue.status = "published"
    issue.published_at = at or issue.published_at or utcnow()
    issue.updated_at = utcnow()
    session.flush()
    content_changed(session)
    return issue


def unpublish(session: Session, issue: Issue) -> Issue:
    issue.status = "draft"
    issue.updated_at = utcnow()
    session.flush()
    content_changed(session)
    return issue


def content_changed(session: Session) -> None:
    """Bump the publication's content version so every web process drops its page cache."""
    moved = session.execute(
        update(Publication)
        .where(Publication.id == 1)
        .values(content_version=Publication.content_version + 1)
    ).rowcount
    if not moved:
        session.add(Publication(id=1, name="", description="", content_version=1))
        session.flush()


def publication(session: Session) -> Publication:
    return session.get(Publication, 1) or Publication(id=1, name="", content_version=0)


PUBLICATION_FIELDS = ("name", "description", "paywall_text", "welcome_text")
PUBLICATION_FLAGS = ("replies_from_any_address",)


def update_publication(session: Session, values: Mapping[str, str]) -> Publication:
    """Change what the editor sets about the publication; every page shows it at once."""
    content_changed(session)  # also creates the row the first time
    current = session.get(Publication, 1)
    for name in PUBLICATION_FIELDS:
        if name in values:
            setattr(current, name, (values[name] or "").strip())
    for name in PUBLICATION_FLAGS:
        if name in values:
            setattr(current, name, bool(values[name]))
    session.flush()
    return current


def cache_version(session: Session) -> tuple[int, int]:
    """Changes whenever a public page may change: an edit, or a scheduled issue going live."""
    version = session.scalar(select(Publication.content_version).where(Publication.id == 1)) or 0
    live = session.scalar(select(func.count()).select_from(Issue).where(web_visible())) or 0
    return version, live


def web_visible():
    """Issues readers may find on the web: published, live (not scheduled), not email-only."""
    return (
        (Issue.status == "published")
        & (Issue.email_only.is_(False))
        & (Issue.published_at <= utcnow())
    )


def published_page(session: Session, number: int, per_page: int) -> Page:
    """One page of the archive, newest first."""
    number = max(1, number)
    total = session.scalar(select(func.count()).select_from(Issue).where(web_visible())) or 0
    items = session.scalars(
        select(Issue)
        .where(web_visible())
        .order_by(Issue.published_at.desc(), Issue.id.desc())
        .limit(per_page)
        .offset((number - 1) * per_page)
    ).all()
    return Page(list(items), number, total, per_page)


def latest(session: Session, limit: int) -> list[Issue]:
    return published_page(session, 1, limit).items


def published_by_slug(session: Session, slug: str) -> Issue | None:
    return session.scalar(select(Issue).where(Issue.slug == slug, web_visible()))


def all_for_editor(session: Session) -> list[Issue]:
    return list(session.scalars(select(Issue).order_by(Issue.updated_at.desc())).all())
