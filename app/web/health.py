"""``/healthz``: can this node do all its work? 200 when the database and Redis both answer,
else 503 naming what is down, e.g. ``{"database": "ok", "redis": "unavailable"}``.

Redis gets a short timeout (PostgreSQL one through ``?connect_timeout=2`` in DATABASE_URL), so
a hung dependency fails the probe instead of hanging it; failures are logged in one line, no
traceback (a monitor polls this every few seconds). A node whose Redis is down still serves
pages, only mail waits: docs/deploy.md says how to use this for load balancing and alerting.
"""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.db import transaction
from app.embedded_redis import EmbeddedRedisError
from app.queue import redis_url

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 2


def _database() -> str:
    try:
        with transaction() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        log.warning("health check: database unavailable: %s", type(error.orig or error).__name__)
        return "unavailable"
    return "ok"


def _redis() -> str:
    try:
        with redis.Redis.from_url(
            redis_url(), socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
        ) as client:
            client.ping()
    except (redis.RedisError, OSError, EmbeddedRedisError) as error:
        log.warning("health check: redis unavailable: %s", type(error).__name__)
        return "unavailable"
    return "ok"


@bp.get("/healthz")
def healthz():
    checks = {"database": _database(), "redis": _redis()}
    healthy = all(state == "ok" for state in checks.values())
    return jsonify(checks), 200 if healthy else 503
