"""Shared fixtures: real databases (SQLite always, PostgreSQL when TEST_DATABASE_URL is set),
real Redis, a real SMTP server, and an app whose every test runs in a rolled-back transaction.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, make_url, text
from sqlalchemy.orm import Session

from app import create_app, embedded_redis, queue
from app.db import make_engine, normalize_url
from app.members.models import Member
from app.migrations import upgrade_database
from app.queue import run_worker
from tests import postgres_server
from tests.postgres_server import PostgresServer
from tests.smtp_sink import SMTPSink

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"


def _servers_of_this_worker() -> None:
    """Under pytest-xdist (``-n``), give each worker process its own PostgreSQL database
    (``test_gw1`` for ``test``) and Redis database (15, 14, … down from the given one), so
    workers never see each other's rows or keys. Set before anything reads the variables:
    names derived from them (``_faults``, ``_erasure``, the benchmarks' Redis) follow."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # "gw0", "gw1", …
    if not worker:
        return
    number = int(worker.removeprefix("gw"))
    if database := os.environ.get("TEST_DATABASE_URL"):
        url = make_url(database)
        url = url.set(database=f"{url.database}_{worker}")
        os.environ["TEST_DATABASE_URL"] = url.render_as_string(hide_password=False)
    redis_url = make_url(os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS_URL))
    redis_database = int(redis_url.database or 0) - number
    assert redis_database >= 0, f"too many workers for Redis databases below {redis_url}"
    redis_url = redis_url.set(database=str(redis_database))
    os.environ["TEST_REDIS_URL"] = redis_url.render_as_string(hide_password=False)


_servers_of_this_worker()
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
SECRET = "test-secret-key-that-is-long-enough-for-hmac"
SAVEPOINTS = re.compile(r"(RELEASE |ROLLBACK TO )?SAVEPOINT ")


def reset_postgres(url: str) -> None:
    """Empty the test database completely so migrations run from nothing (creating it first
    if it is a pytest-xdist worker's own, new)."""
    parsed = make_url(normalize_url(url))
    server = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        exists = text("SELECT 1 FROM pg_database WHERE datname = :name")
        if not connection.scalar(exists, {"name": parsed.database}):
            connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    server.dispose()
    engine = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> str:
    """A migrated database, once per backend per test session."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/kith.db"
    else:
        url = POSTGRES_URL
        reset_postgres(url)
    app = create_app(
        {
            "database_url": url,
            "instance_path": tmp_path_factory.mktemp("migrate"),
            "secret_key": SECRET,
            "redis_url": "redis://unused",
        }
    )
    upgrade_database(app)
    app.extensions["kith.db"].engine.dispose()
    return url


@pytest.fixture(scope="session")
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """The machine's Redis (database 15, or this xdist worker's) when reachable, else Kith's
    embedded one."""
    url = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS_URL)
    try:
        with redis_lib.Redis.from_url(url, socket_connect_timeout=1) as client:
            client.ping()
        return url
    except redis_lib.RedisError:
        if os.environ.get("CI"):
            raise
        return embedded_redis.ensure_running(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def redis(redis_url) -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def smtp() -> Iterator[SMTPSink]:
    with SMTPSink() as sink:
        yield sink


@pytest.fixture
def app_overrides() -> dict:
    """Override in a test module to change settings for its app."""
    return {}


@pytest.fixture
def app(request, engine, redis_url, tmp_path, app_overrides) -> Iterator[Flask]:
    """An app whose sessions all join one transaction that is rolled back after the test."""
    config = {
        "database_url": engine.url.render_as_string(hide_password=False),
        "instance_path": tmp_path / "instance",
        "redis_url": redis_url,
        "secret_key": SECRET,
        "base_url": "http://localhost",
        "mail_from": "The Test Letter <letters@example.org>",
        "page_cache_seconds": 0,
        "RATELIMIT_STORAGE_URI": "memory://",  # fresh limits per test, not shared through Redis
    }
    if "smtp" in request.fixturenames:
        config["smtp_url"] = request.getfixturevalue("smtp").url
    config.update(app_overrides)
    app = create_app(config)
    connection = engine.connect()
    outer = connection.begin()
    app.extensions["kith.db"].bind_to(connection)
    # No app context is held open here: requests must each get their own, as in production
    # (a shared one would leak flask.g, and with it the signed-in user, between requests).
    yield app
    outer.rollback()
    connection.close()
    close_app(app)  # in case a command (e.g. migrations) used the engine


def close_app(app: Flask) -> None:
    """Close what an app a test made holds open: its database pool and its Redis client.

    Dropped unclosed, they are closed by the garbage collector at some later moment, and
    the ResourceWarning lands on whichever test is running then, or on the session's end.
    """
    app.extensions["kith.db"].engine.dispose()
    queue.close(app)


@pytest.fixture
def session(app) -> Iterator[Session]:
    session = app.extensions["kith.db"].session_factory()
    yield session
    session.close()


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@contextmanager
def counted_statements(session: Session, *, savepoints: bool = False) -> Iterator[list[str]]:
    """The SQL statements run on ``session``'s engine inside the block, from any connection
    (a request through the test client uses its own sessions); not the savepoints that hold
    each test's work for rolling back, which production does not run, unless ``savepoints``
    (in tests each transaction a request opens is one SAVEPOINT)."""
    statements: list[str] = []

    def count(_connection, _cursor, statement, *_) -> None:
        if savepoints or not SAVEPOINTS.match(statement):
            statements.append(statement)

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def make_member(session: Session, **overrides) -> Member:
    """A member with sensible defaults; override any column."""
    values = {"email": f"member{os.urandom(4).hex()}@example.com", "status": "active"}
    values.update(overrides)
    member = Member(**values)
    session.add(member)
    session.commit()
    return member


@pytest.fixture
def editor(session) -> Member:
    return make_member(session, email="editor@example.com", name="Edith", role="editor")


def sign_in(client: FlaskClient, member: Member) -> None:
    """Sign ``member`` in the way flask-login stores it, without the email round trip."""
    with client.session_transaction() as flask_session:
        flask_session["_user_id"] = member.get_id()
        flask_session["_fresh"] = True


CSRF_FIELD = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token from the form on ``path``, as a browser would submit it."""
    html = client.get(path).get_data(as_text=True)
    match = CSRF_FIELD.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


def run_jobs(app: Flask) -> None:
    """Work every queued job in this process with a real RQ SimpleWorker, then return."""
    run_worker(app, burst=True)


@pytest.fixture
def content_dir(tmp_path) -> Path:
    path = tmp_path / "content"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the session's own, to crash (tests/postgres_server.py)."""
    reason = postgres_server.missing()
    if reason:
        if postgres_server.REQUIRED:
            pytest.fail(f"KITH_REQUIRE_FAULTS=1 but {reason}")
        pytest.skip(reason)
    server = PostgresServer()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright, one for the whole session (tests/e2e, quality)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("KITH_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium to run browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
