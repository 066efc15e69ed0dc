"""Browser tests: a live Kith on a real port, driven by Playwright in Debian's Chromium."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from werkzeug.serving import make_server

from app import create_app
from app.migrations import upgrade_database
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, SECRET, close_app, reset_postgres  # noqa: F401
from tests.test_up import free_port

# The session's one Chromium (``browser``) lives in tests/conftest.py: a second Playwright
# started in the same process fails, so every browser test shares it.


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@contextmanager
def live_kith(tmp_path, redis_url, database_url: str | None = None, **settings):
    """A migrated Kith serving on a free loopback port, committed for real (no rollback).

    On SQLite it gets a fresh file (the session's database is shared with rolled-back tests);
    on PostgreSQL it uses ``database_url`` and leaves it empty and migrated afterwards, as the
    other tests expect. ``settings`` override any setting (Stripe keys, say).
    """
    on_postgres = bool(database_url) and not database_url.startswith("sqlite")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = create_app(
        {
            "database_url": database_url if on_postgres else f"sqlite:///{tmp_path}/live.db",
            "instance_path": tmp_path / "instance",
            "redis_url": redis_url,
            "secret_key": SECRET,
            "base_url": base,
            "page_cache_seconds": 0,
            "RATELIMIT_STORAGE_URI": "memory://",
        }
        | settings
    )
    upgrade_database(app)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base, app
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        close_app(app)
        if on_postgres:
            reset_postgres(database_url)
            upgrade_database(app)
            app.extensions["kith.db"].engine.dispose()


@pytest.fixture
def live_app(tmp_path, redis_url) -> Iterator[tuple[str, object]]:
    """Kith on SQLite behind a real port, for browser tests."""
    with live_kith(tmp_path, redis_url) as served:
        yield served
