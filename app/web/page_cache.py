"""Per-process cache of the public pages anonymous readers get.

Public pages change only when content changes, so each web process keeps the finished
responses and serves repeats straight from WSGI, before sessions, sign-in or rate limiting
run: a visitor with no session or remember cookie is anonymous by definition. Freshness: at
most once per ``page_cache_seconds`` a process reads the publication's content version (plus
the count of live issues, for scheduled ones); any change replaces its cache with an empty
one. A change thus shows on every web node within that interval, and on the node that made
it at once (``invalidate()`` after the commit).

A page is stored into the cache generation that was current when its request began, so a
slow render of old content can never outlive a version change. Views opt in with
``@cached_page(params=...)``: only a 200 without ``Set-Cookie`` whose query string holds no
other parameters is stored, so junk query strings cannot crowd real pages out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, current_app, request
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.http import parse_cookie

from app.db import reading
from app.insights import reads
from app.issues import service as issues

MAX_ENTRIES = 2048
MAX_AGE = 3600.0  # seconds a stored page may be served, so its signed sign-up form stays valid
_MARK = "kith.cacheable"
_GENERATION = "kith.cache_generation"
log = logging.getLogger(__name__)

# (stored at, status, headers, body, the issue whose web read a hit counts — or None)
Entry = tuple[float, str, list[tuple[str, str]], bytes, int | None]


@dataclass
class PageCache:
    ttl: float
    version: Any = None
    site_name: str = ""
    checked_at: float = float("-inf")
    pages: dict[str, Entry] = field(default_factory=dict)

    def due(self) -> bool:
        return time.monotonic() - self.checked_at >= self.ttl

    def refresh(self) -> bool:
        """Start a new, empty generation if content changed; False if the database is down."""
        if not self.due():
            return True
        try:
            with reading() as session:
                version = issues.cache_version(session)
                name = issues.publication(session).name
        except SQLAlchemyError:
            log.warning("page cache: the database is unavailable; serving without the cache")
            return False
        if version != self.version:
            self.pages = {}  # a new generation: requests still rendering write into the old one
            self.version = version
        self.site_name, self.checked_at = name, time.monotonic()
        return True

    def invalidate(self) -> None:
        """Make the next request re-check the version. Call it after the change committed."""
        self.checked_at = float("-inf")


def page_cache() -> PageCache:
    return current_app.extensions["kith.page_cache"]


def cache_key(environ: dict[str, Any]) -> str:
    return environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", "")


def cached_page(
    *, params: tuple[str, ...] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a view's responses to anonymous readers as cacheable when only ``params`` are used."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            query = parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True)
            if not current_user.is_authenticated and all(name in params for name, _ in query):
                request.environ[_MARK] = True
            return view(*args, **kwargs)

        return wrapper

    return decorate


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
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("PATH_INFO", "").startswith(
            ("/static/", "/healthz")
        ):
            return False
        if not environ.get("HTTP_COOKIE"):
            return True
        return not self.cookies.intersection(parse_cookie(environ))

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if not self._anonymous_get(environ):
            return self.next(environ, start_response)
        cache: PageCache = self.app.extensions["kith.page_cache"]
        if cache.due():
            with self.app.app_context():
                if not cache.refresh():
                    return self.next(environ, start_response)
        pages = cache.pages  # this request's generation
        key = cache_key(environ)
        hit = pages.get(key)
        if hit is not None and time.monotonic() - hit[0] < MAX_AGE:
            _, status, headers, body, read = hit
            if read is not None:  # the view counts the reads it renders; this, the cached ones
                self.app.extensions[reads.EXTENSION].add(read)
            start_response(status, headers)
            return [body]
        environ[_GENERATION] = pages
        return self._render_and_store(environ, start_response, key)

    def _render_and_store(self, environ, start_response, key: str) -> Iterable[bytes]:
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
        pages: dict[str, Entry] = environ[_GENERATION]
        cacheable = (
            environ.get(_MARK)
            and captured.get("status", "").startswith("200")
            and not any(name.lower() == "set-cookie" for name, _ in captured["headers"])
            and (len(pages) < MAX_ENTRIES or key in pages)
        )
        if cacheable:
            pages[key] = (
                time.monotonic(),
                captured["status"],
                list(captured["headers"]),
                body,
                environ.get(reads.ENVIRON_KEY),
            )
        return [body]
