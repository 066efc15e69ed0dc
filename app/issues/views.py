"""Public pages: home, archive, issue pages and the Atom feed."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user

from app.db import reading
from app.discussions import viewing
from app.insights import reads
from app.issues import service
from app.members import access
from app.payments import prices
from app.web.forms import ButtonForm
from app.web.page_cache import cached_page

bp = Blueprint("issues", __name__)

HOME_ISSUES = 10
MAX_PAGE = 100_000
FEED_ISSUES = 30


def _settings():
    return current_app.extensions["kith.settings"]


@bp.get("/")
@cached_page()
def home():
    with reading() as session:
        issues = service.latest(session, HOME_ISSUES)
        publication = service.publication(session)
    return render_template("issues/home.html", issues=issues, publication=publication)


@bp.get("/archive")
@cached_page(params=("page",))
def archive():
    number = request.args.get("page", "1")
    if not (number.isascii() and number.isdigit()) or not 1 <= int(number) <= MAX_PAGE:
        abort(404)
    with reading() as session:
        page = service.published_page(session, int(number), _settings().issues_per_page)
    if page.number > page.pages:
        abort(404)
    return render_template("issues/archive.html", page=page)


@bp.get("/issues/<slug>")
@cached_page()
def show(slug: str):
    if not service.SLUG_PATTERN.match(slug) or len(slug) > 120:
        abort(404)
    with reading() as session:
        issue = service.published_by_slug(session, slug)
        publication = service.publication(session)
        offers = prices.offers(session, _settings())
        discussion = viewing.issue_discussion(session, current_user, issue) if issue else None
    if issue is None:
        abort(404)
    if not current_user.is_authenticated or not current_user.is_editor:
        reads.counter().add(issue.id)
        request.environ[reads.ENVIRON_KEY] = issue.id  # so the page cache counts its hits
    gate = access.gate(current_user, issue)
    return render_template(
        "issues/show.html",
        issue=issue,
        body_html=access.readable_html(current_user, issue),
        gate=gate,
        paywall_text=publication.paywall_text,
        offers=offers,
        # Only for a signed-in member: an anonymous page carries no session (it is cached).
        upgrade_form=ButtonForm(formdata=None) if gate == "upgrade" and offers else None,
        summary=access.public_summary(issue),
        discussion=discussion,
    )


@bp.get("/feed.xml")
@cached_page()
def feed():
    with reading() as session:
        issues = service.latest(session, FEED_ISSUES)
        publication = service.publication(session)
    entries = [
        {
            "issue": issue,
            # The feed is anonymous by nature: it carries exactly what an anonymous reader sees.
            "content": access.readable_html(None, issue),
            "summary": access.public_summary(issue),
        }
        for issue in issues
    ]
    updated = max((issue.updated_at for issue in issues), default=None)
    body = render_template(
        "issues/feed.xml", entries=entries, publication=publication, updated=updated
    )
    return body, 200, {"Content-Type": "application/atom+xml; charset=utf-8"}
