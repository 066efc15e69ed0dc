"""Clean error pages: every failure a reader can cause gets a page that says what happened."""

from __future__ import annotations

import logging

from flask import Flask, g, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from app.api import errors as api_errors

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Not allowed", "Your account does not have access to this page."),
    404: (
        "Page not found",
        "There is nothing at this address. It may have moved or never existed.",
    ),
    405: ("Not allowed", "This page does not accept that kind of request."),
    413: ("Too large", "What you sent is larger than Kith accepts."),
    429: ("Slow down", "Too many attempts in a short time. Please wait a minute and try again."),
    500: ("Something went wrong", "An unexpected error happened; nothing you sent was half-saved."),
    503: (
        "Back in a moment",
        "The site cannot reach its database right now. Please try again shortly.",
    ),
}


def _page(status: int, detail: str | None = None):
    if api_errors.is_api_request():  # the API answers in JSON, whatever failed
        return api_errors.from_status(status)
    title, message = MESSAGES.get(status, (f"Error {status}", "The request failed."))
    if request.path.endswith((".xml", ".json")) or request.path.startswith("/healthz"):
        return f"{status} {title}\n", status, {"Content-Type": "text/plain; charset=utf-8"}
    return render_template(
        "error.html", status=status, title=title, message=detail or message
    ), status


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        return _page(
            400, "The form expired or did not come from this site. Go back, reload and try again."
        )

    @app.errorhandler(OperationalError)
    def database_unavailable(error: OperationalError):
        log.error("database unavailable on %s %s: %s", request.method, request.path, error)
        # The page must not load the signed-in member: that needs the database too, and a
        # second failure inside this handler would become a bare 500.
        g._login_user = app.login_manager.anonymous_user()
        return _page(503)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if api_errors.is_api_request():
            return api_errors.from_http(error)
        return _page(error.code or 500)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _page(500)
