"""/healthz against a real Redis that is stopped mid-test and databases that cannot be reached."""

from __future__ import annotations

import time

import pytest

from app import create_app
from tests.conftest import SECRET
from tests.workers import RedisServer


def test_healthy_node_answers_200_with_each_check(client, redis):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"database": "ok", "redis": "ok"}


def test_a_stopped_redis_makes_it_503_naming_redis(app, client, tmp_path):
    private_redis = RedisServer(tmp_path)
    private_redis.start()
    app.extensions["kith.redis_url"] = private_redis.url
    try:
        assert client.get("/healthz").status_code == 200
    finally:
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
