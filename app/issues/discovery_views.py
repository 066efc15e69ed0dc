"""Ways to find issues: search, the sitemap, robots.txt and the JSON Feed.

Each asks ``members/access.py`` what a reader may see; none decides it here.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user

from app.db import transaction
from app.issues import search as issue_search
from app.issues import service
from app.issues.models import Issue
from app.issues.views import FEED_ISSUES, MAX_PAGE
from app.members import access
from app.web.page_cache import cached_page
from app.web.security import limiter

bp = Blueprint("discovery", __name__)

# Search pages are never put in the page cache: every query string is a new key, and junk
# queries would crowd the real pages out of it. The limit keeps uncached scans affordable.
SEARCH_LIMIT = "60 per minute"
SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"


def _settings():
    return current_app.extensions["kith.settings"]


@bp.get("/search")
@limiter.limit(SEARCH_LIMIT)
def search():
    number = request.args.get("page", "1")
    if not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= MAX_PAGE:
        abort(404)
    raw = request.args.get("q", "")
    try:
        query = issue_search.parse_query(raw)
    except issue_search.QueryError as error:
        shown = " ".join(raw.split())[: issue_search.MAX_QUERY_CHARS]
        return _search_page(shown, results=None, error=str(error), status=400)
    results = None
    if query.words:
        with transaction() as session:
            results = issue_search.search(session, current_user, query, int(number))
        if results.number > results.pages:
            abort(404)
    return _search_page(query.text, results=results)


def _search_page(text: str, *, results, error: str | None = None, status: int = 200):
    body = render_template("issues/search.html", text=text, results=results, error=error)
    headers = {}
    if current_user.is_authenticated:  # results depend on who asks: no shared cache may keep them
        headers["Cache-Control"] = "private, no-store"
    return body, status, headers


@bp.get("/sitemap.xml")
@cached_page()
def sitemap():
    with transaction() as session:
        entries = issue_search.sitemap_entries(session)
    settings = _settings()
    newest = max((entry.updated_at for entry in entries), default=None)
    urlset = ET.Element("urlset", xmlns=SITEMAP_NS)

    def add(path: str, lastmod: datetime | None) -> None:
        url = ET.SubElement(urlset, "url")
        ET.SubElement(url, "loc").text = settings.url(path)
        if lastmod is not None:
            ET.SubElement(url, "lastmod").text = lastmod.replace(microsecond=0).isoformat()

    # A listing changes when an issue on it does; its newest change stands for its own.
    add("/", newest)
    add("/archive", newest)
    archive_pages = -(-len(entries) // settings.issues_per_page)
    for number in range(2, archive_pages + 1):
        add(f"/archive?page={number}", newest)
    for entry in entries:
        add(f"/issues/{entry.slug}", entry.updated_at)
    body = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(urlset, encoding="unicode")
    return body, 200, {"Content-Type": "application/xml; charset=utf-8"}


@bp.get("/robots.txt")
@cached_page()
def robots():
    lines = (
        "User-agent: *",
        "Disallow: /admin",
        "Disallow: /account",
        "Disallow: /search",  # endless query URLs, uncached; the sitemap lists every issue
        f"Sitemap: {_settings().url('/sitemap.xml')}",
    )
    return "\n".join(lines) + "\n", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/feed.json")
@cached_page()
def feed_json():
    """JSON Feed 1.1 with the same issues and the same public teasers as ``/feed.xml``."""
    with transaction() as session:
        issues = service.latest(session, FEED_ISSUES)
        publication = service.publication(session)
    settings = _settings()
    name = publication.name or settings.publication_name
    feed = {
        "version": JSON_FEED_VERSION,
        "title": name,
        "home_page_url": settings.url("/"),
        "feed_url": settings.url("/feed.json"),
        **({"description": publication.description} if publication.description else {}),
        "authors": [{"name": name}],
        "items": [_feed_item(issue) for issue in issues],
    }
    body = json.dumps(feed, ensure_ascii=False)
    return body, 200, {"Content-Type": "application/feed+json; charset=utf-8"}


def _feed_item(issue: Issue) -> dict[str, str]:
    url = _settings().url(f"/issues/{issue.slug}")
    item = {"id": url, "url": url, "title": issue.title}
    # The feed is anonymous by nature: it carries exactly what an anonymous reader sees.
    content = access.readable_html(None, issue)
    summary = access.public_summary(issue)
    if content:
        item["content_html"] = content
    else:  # JSON Feed requires one of the two
        item["content_text"] = summary
    if summary:
        item["summary"] = summary
    item["date_published"] = issue.published_at.isoformat()
    item["date_modified"] = issue.updated_at.isoformat()
    return item
