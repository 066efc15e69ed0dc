"""/healthz against a real Redis that is stopped mid-test and databases that cannot be reached."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from app import create_app
from tests.conftest import SECRET
from tests.workers import RedisServer


@pytest.fixture
def private_redis(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_healthy_node_answers_200_with_each_check(client, redis):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"database": "ok", "redis": "ok"}


def test_a_stopped_redis_makes_it_503_naming_redis(app, client, private_redis):
    app.extensions["kith.redis_url"] = private_redis.url
    assert client.get("/healthz").status_code == 200
    private_redis.stop()
    started = time.monotonic()
    response = client.get("/healthz")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.json == {"database": "ok", "redis": "unavailable"}


@pytest.mark.parametrize(
    "database_url",
    [
        "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2",
        "sqlite:////nonexistent-directory/kith.db",
    ],
)
def test_an_unreachable_database_makes_it_503_naming_the_database(
    database_url, redis_url, redis, tmp_path
):
    app = create_app(
        {"database_url": database_url, "redis_url": redis_url, "secret_key": SECRET,
         "instance_path": tmp_path / "instance", "page_cache_seconds": 0}
    )  # fmt: skip
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"database": "unavailable", "redis": "ok"}
    assert "Traceback" not in response.get_data(as_text=True)
