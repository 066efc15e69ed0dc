"""Per-process cache of the public pages anonymous readers get.

Public pages change only when content changes, so each web process keeps the finished
responses and serves repeats straight from WSGI, before sessions, sign-in or rate limiting
run: a visitor with no session or remember cookie is anonymous by definition. Freshness: at
most once per ``page_cache_seconds`` a process reads the publication's content version (plus
the count of live issues, for scheduled ones); any change empties its cache. A change thus
shows on every web node within that interval, and on the node that made it at once.

Views opt in with ``@cached_page``; only a 200 without ``Set-Cookie`` is ever stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Flask, current_app, request
from flask_login import current_user
from werkzeug.http import parse_cookie

from app.db import transaction
from app.issues import service as issues

MAX_ENTRIES = 2048
MAX_AGE = 3600.0  # seconds a stored page may be served, so its signed sign-up form stays valid
_MARK = "kith.cacheable"


@dataclass
class PageCache:
    ttl: float
    version: Any = None
    site_name: str = ""
    checked_at: float = float("-inf")
    pages: dict[str, tuple[float, str, list[tuple[str, str]], bytes]] = field(default_factory=dict)

    def refresh(self) -> None:
        """Drop every page if the content changed since the last look (at most once per ttl)."""
        now = time.monotonic()
        if now - self.checked_at < self.ttl:
            return
        with transaction() as session:
            version = issues.cache_version(session)
            self.site_name = issues.publication(session).name
        if version != self.version:
            self.pages.clear()
            self.version = version
        self.checked_at = now

    def invalidate(self) -> None:
        self.checked_at = float("-inf")


def page_cache() -> PageCache:
    return current_app.extensions["kith.page_cache"]


def cache_key(environ: dict[str, Any]) -> str:
    return environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", "")


def cached_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark this view's responses to anonymous readers as cacheable."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            request.environ[_MARK] = True
        return view(*args, **kwargs)

    return wrapper


class PageCacheMiddleware:
    """Serves cached pages to anonymous GETs, and stores what ``@cached_page`` views mark."""

    def __init__(self, app: Flask):
        self.app = app
        self.next = app.wsgi_app
        self.cookies = {
            app.config["SESSION_COOKIE_NAME"],
            app.config.get("REMEMBER_COOKIE_NAME", "remember_token"),
        }

    def _anonymous_get(self, environ: dict[str, Any]) -> bool:
        if environ.get("REQUEST_METHOD") != "GET":
            return False
        return (
            not self.cookies.intersection(parse_cookie(environ))
            if environ.get("HTTP_COOKIE")
            else True
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if not self._anonymous_get(environ):
            return self.next(environ, start_response)
        cache: PageCache = self.app.extensions["kith.page_cache"]
        if time.monotonic() - cache.checked_at >= cache.ttl:
            with self.app.app_context():
                cache.refresh()
        key = cache_key(environ)
        hit = cache.pages.get(key)
        if hit is not None and time.monotonic() - hit[0] < MAX_AGE:
            _, status, headers, body = hit
            start_response(status, headers)
            return [body]
        return self._render_and_store(environ, start_response, cache, key)

    def _render_and_store(
        self, environ, start_response, cache: PageCache, key: str
    ) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info=None):
            captured.update(status=status, headers=headers)
            return start_response(status, headers, exc_info)

        result = self.next(environ, capture)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        cacheable = (
            environ.get(_MARK)
            and captured.get("status", "").startswith("200")
            and not any(name.lower() == "set-cookie" for name, _ in captured["headers"])
            and (len(cache.pages) < MAX_ENTRIES or key in cache.pages)
        )
        if cacheable:
            cache.pages[key] = (
                time.monotonic(),
                captured["status"],
                list(captured["headers"]),
                body,
            )
        return [body]
