"""The open pixel and tracked links of issue emails, and the footer notice that discloses them.

Both answer whatever the setting says now: a pixel or link in an email sent while counting
was on keeps working after it is turned off (it just counts nothing).
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request
from sqlalchemy.exc import SQLAlchemyError

from app.db import transaction, utcnow
from app.insights import tracking
from app.web.page_cache import page_cache

bp = Blueprint("tracking", __name__)

NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer"}


def _settings():
    return current_app.extensions["kith.settings"]


def _refused(error: tracking.TrackingError):
    titles = {400: "This link is damaged", 404: "This link leads nowhere"}
    page = render_template(
        "error.html", status=error.status, title=titles[error.status], message=str(error)
    )
    return page, error.status, NO_STORE


@bp.get("/o/<token>.gif")
def pixel(token: str):
    with transaction(immediate=True) as session:  # it may count
        try:
            tracking.record_open(
                session,
                _settings(),
                token,
                user_agent=request.headers.get("User-Agent", ""),
                ip=request.remote_addr,
                now=utcnow(),
            )
        except tracking.TrackingError as error:
            return _refused(error)
    return tracking.PIXEL, 200, {"Content-Type": "image/gif", **NO_STORE}


@bp.get("/c/<token>/<int:position>")
def click(token: str, position: int):
    with transaction(immediate=True) as session:  # it may count
        try:
            url = tracking.follow(session, _settings(), token, position, now=utcnow())
        except tracking.TrackingError as error:
            return _refused(error)
    response = redirect(url, 302)
    response.headers.update(NO_STORE)
    return response


@bp.app_context_processor
def _footer_notice() -> dict[str, str]:
    """``tracking_notice`` for the site footer: read once per content version per process."""
    cache = page_cache()
    known = current_app.extensions.setdefault("kith.tracking_notice", {})
    if cache.version is None or known.get("version") != cache.version:
        try:
            with transaction() as session:
                known.update(version=cache.version, on=tracking.enabled(session))
        except SQLAlchemyError:
            return {"tracking_notice": ""}
    return {"tracking_notice": tracking.NOTICE if known["on"] else ""}
