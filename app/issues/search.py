"""Finding issues: search, and the URL list for the sitemap.

Search matches case-folded plain text stored when an issue is saved (``search_teaser`` and
``search_body``, see ``service.search_texts``), with ``LIKE '%word%'``: plenty for the hundreds
or few thousand issues of a micro-community, on SQLite and PostgreSQL alike, without an index
server. Every word of the query must occur in text the reader may read: the title, subtitle,
excerpt and teaser for everyone, the whole body only where ``access.can_read_full`` says so.
Otherwise a word that appears only after ``<!-- more -->`` would reveal that the issue says it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.issues import service
from app.issues.models import VISIBILITIES, Issue
from app.members import access
from app.pagination import Page

MAX_QUERY_CHARS = 200
MAX_WORDS = 10
PER_PAGE = 20
SNIPPET_CHARS = 220
SNIPPET_LEAD = 70  # characters of context kept before the first match
MAX_SITEMAP_ISSUES = 45_000  # with the archive pages, under the 50,000 URLs of one sitemap


class QueryError(ValueError):
    """A search that cannot be run as typed; the message says what to change."""


@dataclass(frozen=True)
class Query:
    text: str  # as typed, whitespace collapsed: shown back and used in links
    words: tuple[str, ...]  # case-folded, each to be found


@dataclass(frozen=True)
class Hit:
    issue: Issue
    snippet: Markup


def parse_query(raw: str) -> Query:
    """Split what was typed into words; an empty query has none (and matches nothing)."""
    if len(raw) > MAX_QUERY_CHARS:
        raise QueryError(f"Keep your search to {MAX_QUERY_CHARS} characters at most.")
    text = " ".join(raw.split())
    words = tuple(dict.fromkeys(service.search_fold(text).split()))
    if len(words) > MAX_WORDS:
        raise QueryError(f"Search for at most {MAX_WORDS} words at a time.")
    return Query(text, words)


def full_text_visibilities(viewer: Any) -> list[str]:
    """The visibilities whose whole body ``viewer`` may search, as the policy answers for each.

    SQL needs the answer per visibility; ``search`` still asks the policy again per issue
    found, so a policy that one day depends on more than visibility cannot leak through here.
    """
    return [v for v in VISIBILITIES if access.can_read_full(viewer, Issue(visibility=v))]


def search(session: Session, viewer: Any, query: Query, number: int) -> Page[Hit]:
    """One page of the web-visible issues matching every word ``viewer`` may read, newest first."""
    if not query.words:
        return Page([], number, 0, PER_PAGE)
    full = full_text_visibilities(viewer)
    match = and_(
        *(
            or_(
                Issue.search_teaser.contains(word, autoescape=True),
                Issue.visibility.in_(full) & Issue.search_body.contains(word, autoescape=True),
            )
            for word in query.words
        )
    )
    condition = service.web_visible() & match
    total = session.scalar(select(func.count()).select_from(Issue).where(condition)) or 0
    issues = session.scalars(
        select(Issue)
        .where(condition)
        .order_by(Issue.published_at.desc(), Issue.id.desc())
        .limit(PER_PAGE)
        .offset((number - 1) * PER_PAGE)
    ).all()
    hits = [
        Hit(issue, snippet(viewer, issue, query))
        for issue in issues
        if _readable_match(viewer, issue, query)
    ]
    return Page(hits, number, total, PER_PAGE)


def _readable_match(viewer: Any, issue: Issue, query: Query) -> bool:
    readable = issue.search_teaser
    if access.can_read_full(viewer, issue):
        readable += " " + issue.search_body
    return all(word in readable for word in query.words)


def snippet(viewer: Any, issue: Issue, query: Query) -> Markup:
    """A short passage around the first match, from text ``viewer`` may read, words marked.

    A match in the title alone shows the public summary (or the start of the readable text).
    """
    longest_first = sorted(query.words, key=len, reverse=True)  # "apples" before "apple"
    pattern = re.compile("|".join(map(re.escape, longest_first)), re.IGNORECASE)
    readable = service.plain_text(access.readable_html(viewer, issue))
    summary = access.public_summary(issue)
    for text in (readable, issue.excerpt, issue.subtitle):
        found = pattern.search(text) if text else None
        if found:
            return _marked(_window(text, found.start()), pattern)
    return _marked(_window(summary or readable, 0), pattern)


def _window(text: str, at: int) -> str:
    """About ``SNIPPET_CHARS`` of ``text`` from a little before ``at``, cut at spaces."""
    start = max(0, at - SNIPPET_LEAD)
    if start:
        space = text.find(" ", start, at)
        start = space + 1 if space != -1 else start
    end = start + SNIPPET_CHARS
    if end < len(text):
        space = text.rfind(" ", at, end)
        end = space if space > at else end
    prefix = "…" if start else ""
    suffix = "…" if end < len(text) else ""
    return prefix + text[start:end] + suffix


def _marked(text: str, pattern: re.Pattern[str]) -> Markup:
    parts: list[str] = []
    last = 0
    for found in pattern.finditer(text):
        parts += [escape(text[last : found.start()]), Markup("<mark>%s</mark>") % found.group()]
        last = found.end()
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


@dataclass(frozen=True)
class SitemapEntry:
    slug: str
    updated_at: datetime


def sitemap_entries(session: Session) -> list[SitemapEntry]:
    """Every web-visible issue's slug and last change, newest first: URLs only, no bodies."""
    rows = session.execute(
        select(Issue.slug, Issue.updated_at)
        .where(service.web_visible())
        .order_by(Issue.published_at.desc(), Issue.id.desc())
        .limit(MAX_SITEMAP_ISSUES)
    ).all()
    return [SitemapEntry(slug, updated_at) for slug, updated_at in rows]
