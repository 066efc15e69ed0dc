"""Per-process cache of anonymous public pages.

Public pages change only when content changes, so each web process keeps the finished bytes
and serves them without touching the database. Freshness: at most once per
``page_cache_seconds`` a process reads the publication's content version (plus the count of
issues whose publication time has passed, for scheduled issues); any change empties the
cache. A change thus shows on every web node within that interval, on its own node at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Response, current_app, request
from flask_login import current_user

from app.db import transaction
from app.issues import service as issues

MAX_ENTRIES = 2048


@dataclass
class PageCache:
    ttl: float
    version: Any = None
    site_name: str = ""
    checked_at: float = float("-inf")
    pages: dict[str, tuple[bytes, int, dict[str, str]]] = field(default_factory=dict)

    def refresh(self) -> None:
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


def cached_page(view: Callable[..., Any]) -> Callable[..., Any]:
    """Serve a GET for anonymous readers from the cache; render and store it on a miss."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.method != "GET" or current_user.is_authenticated:
            return view(*args, **kwargs)
        cache = page_cache()
        cache.refresh()
        key = request.full_path
        hit = cache.pages.get(key)
        if hit is not None:
            body, status, headers = hit
            return Response(body, status=status, headers=headers)
        response = current_app.make_response(view(*args, **kwargs))
        if response.status_code == 200 and len(cache.pages) < MAX_ENTRIES:
            headers = {"Content-Type": response.content_type}
            if "Cache-Control" in response.headers:
                headers["Cache-Control"] = response.headers["Cache-Control"]
            cache.pages[key] = (response.get_data(), response.status_code, headers)
        return response

    return wrapper
