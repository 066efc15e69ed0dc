"""Sign-in state, CSRF, rate limits and the headers every response carries."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, redirect, request, session, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user, login_user
from flask_wtf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from app.db import opening_read
from app.members import service as members

login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)

# form-action also governs where a form's POST may be redirected: the upgrade and billing
# buttons answer 303 to Stripe's Checkout and Billing Portal, which browsers would refuse.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; "
    "frame-src 'self'; frame-ancestors 'none'; "
    "form-action 'self' https://checkout.stripe.com https://billing.stripe.com; "
    "base-uri 'none'; object-src 'none'"
)


@login_manager.user_loader
def _load_member(member_id: str):
    with opening_read() as session:
        member = members.load_member(session, member_id)
        if member is not None:
            session.expunge(member)  # current_user outlives the view's transaction
    return member if member is not None and member.is_active else None


def _load_member_first() -> None:
    """The signed-in member is read before the view opens its transaction, so the view's
    transaction continues that read (``db.opening_read``). Static files need no member."""
    if request.endpoint != "static":
        current_user._get_current_object()


def viewer_in(session) -> Any:
    """The signed-in member as a row of ``session`` (so what a service changes is saved), or
    flask-login's anonymous user.

    The loader above read the member moments ago; merging that clean copy costs no statement,
    where reading it again cost two on every signed-in page.
    """
    if current_user.is_authenticated:
        return session.merge(current_user._get_current_object(), load=False)
    return current_user._get_current_object()


def editor_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Anonymous visitors go to sign in; signed-in non-editors get 403."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return redirect(url_for("members.login", next=request.full_path))
        if not current_user.is_editor:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def sign_in(member) -> None:
    """Start a fresh session for ``member``: nothing from before sign-in carries over."""
    session.clear()
    login_user(member, remember=True)


def per_address(purpose: str) -> Callable[[], str]:
    """A rate-limit key for the email address a form names: no inbox can be flooded from
    many addresses at once, whatever IPs the requests come from.

    The key holds a keyed hash of the address, never the address: the counter lives in
    Redis for up to an hour, and may outlive the account of a member who erases it (P5).
    """

    def key() -> str:
        raw = request.form.get("email", "")
        try:
            address = members.normalize_email(raw)
        except members.InvalidEmail:
            address = raw.strip().lower()[:320]
        secret = current_app.extensions["kith.settings"].secret_key.encode()
        return f"{purpose}:{hmac.new(secret, address.encode(), 'sha256').hexdigest()[:32]}"

    return key


def safe_next(target: str | None) -> str | None:
    """Only same-site paths are followed after sign-in: never an open redirect."""
    if not target or len(target) > 500 or any(ch.isspace() or ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return None
    return target


# URL parameters that carry a secret (a signed link, an invitation code): a page at such a
# URL must not hand it on in the Referer of a link or an image it loads.
SECRET_URL_PARAMS = frozenset({"token", "code"})


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if SECRET_URL_PARAMS.intersection(request.view_args or ()):
        response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    # Tied to BASE_URL rather than to this request: behind a TLS proxy the app sees http.
    if current_app.extensions["kith.settings"].base_url.startswith("https://"):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _private_when_signed_in(response):
    """A page rendered for a signed-in reader may hold what only they may see (a paid body,
    their account): no shared cache (proxy, CDN) may store it or hand it to anyone else."""
    if current_user.is_authenticated:
        response.vary.add("Cookie")
        if not (response.cache_control.private or response.cache_control.no_store):
            response.cache_control.private = True
    return response


def limiter_storage(redis_url: str | None) -> str:
    """Rate-limit counters live in Redis when one is configured, so all web nodes share them."""
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url[len("unix://") :]
    return redis_url


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _refuse_nul_bytes():
    """No database takes NUL in text (PostgreSQL refuses it): a clear 400, never a 500."""
    if "\x00" in request.path or "%00" in request.query_string.decode("latin-1"):
        abort(400)
    form_post = request.method == "POST" and request.mimetype in FORM_TYPES
    if form_post and any(
        "\x00" in value for values in request.form.listvalues() for value in values
    ):
        abort(400)


def init_app(app: Flask, *, storage_uri: str, trusted_proxies: int = 0) -> None:
    if trusted_proxies:
        # Behind a load balancer the client address, scheme and host come from its headers.
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies, x_host=trusted_proxies
        )
    app.before_request(_refuse_nul_bytes)
    login_manager.init_app(app)
    app.before_request(_load_member_first)
    login_manager.login_view = "members.login"
    login_manager.login_message = "Please sign in to continue."
    # Token pages send Referrer-Policy: no-referrer, so a browser posts their forms with no
    # Referer; Flask-WTF's HTTPS-only Referer check would refuse every one of them. The
    # session's CSRF token and the SameSite=Lax cookie are the protection.
    app.config.setdefault("WTF_CSRF_SSL_STRICT", False)
    csrf.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", storage_uri)
    # Exact windows: a fixed window lets twice the limit through across its boundary (10 at
    # 0:59 and 10 more at 1:00).
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    # If Redis is down, count in memory rather than fail every request (fail open, per process).
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter.init_app(app)
    app.after_request(_security_headers)
    app.after_request(_private_when_signed_in)
