"""A2: the page cache shared by anonymous readers never holds, nor serves, what a signed-in
reader was shown. Every GET route is fetched as a paying reader and as the editor first, then
as an anonymous visitor, through the real PageCacheMiddleware.
"""

from __future__ import annotations

import pytest

from tests.security.conftest import CANARY, THREAD_CANARY, client_as
from tests.security.routes import GATED_GETS, GET_ROUTES

pytestmark = pytest.mark.usefixtures("redis")
PATHS = [template for template, _ in GET_ROUTES.values()] + list(GATED_GETS)
READER_PATHS = [path for path in PATHS if not path.startswith("/admin/")]


@pytest.fixture
def app_overrides():
    return {"page_cache_seconds": 60}


def fetch_all(client, world, paths=PATHS) -> dict[str, str]:
    pages = {}
    for template in paths:
        path = template.format(**world.values)
        response = client.get(path)
        pages[path] = response.get_data(as_text=True) if "/static/" not in path else ""
        response.close()
    return pages


def test_pages_shown_to_signed_in_readers_never_reach_anonymous_ones(app, world):
    cache = app.extensions["kith.page_cache"]
    # A paying reader gets 403 from /admin: only the editor's crawl goes there.
    for role, paths in {"paid": READER_PATHS, "editor": PATHS}.items():
        shown = fetch_all(client_as(app, world, role), world, paths)
        assert CANARY in shown[f"/issues/{world.values['slug']}"]  # they do read it
    assert not [key for key, page in cache.pages.items() if CANARY.encode() in page[3]]
    anonymous = app.test_client()
    for attempt in ("first", "from the cache"):
        pages = fetch_all(anonymous, world)
        leaks = [path for path, html in pages.items() if CANARY in html or THREAD_CANARY in html]
        assert not leaks, f"{attempt}: {leaks}"
    assert f"/issues/{world.values['slug']}?" in cache.pages  # the cache was in use


def test_a_cached_anonymous_page_is_not_served_to_a_signed_in_reader(app, world):
    path = f"/issues/{world.values['slug']}"
    anonymous = app.test_client()
    assert CANARY not in anonymous.get(path).get_data(as_text=True)
    assert f"{path}?" in app.extensions["kith.page_cache"].pages
    paid = client_as(app, world, "paid")
    response = paid.get(path)
    assert CANARY in response.get_data(as_text=True)
    assert "private" in response.headers["Cache-Control"]
    assert "Cookie" in response.headers["Vary"]
