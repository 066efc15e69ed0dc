"""Prometheus metrics: what the database knows is counted at scrape time, the rest in-process.

Sending, bounce and webhook figures are small aggregate queries run when Prometheus scrapes
(indexed ``GROUP BY``s), so every web node reports the same truth and no worker has to
publish anything. Queue depths are read from Redis the same way. Only what leaves no row —
HTTP requests and their latency, inbound mail outcomes — is counted in the process; under
gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory per host, wiped at start) and
the scrape sums every process on the host (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import redis
from flask import Flask, current_app, g, request
from flask.wrappers import Response
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from app.db import transaction
from app.embedded_redis import EmbeddedRedisError
from app.queue import QUEUES, queue, redis_url
from app.sending.models import Bounce, Delivery, Send
from app.webhooks.models import WebhookDelivery

HTTP_REQUESTS = Counter(
    "kith_http_requests", "HTTP responses by endpoint and status.", ["endpoint", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "kith_http_request_duration_seconds", "Time to build a response, by endpoint.", ["endpoint"]
)
INBOUND_MAIL = Counter(
    "kith_inbound_messages", "Inbound messages (webhook or SMTP) by outcome.", ["outcome"]
)
FINAL_DELIVERY_STATES = ("sent", "failed", "bounced", "uncertain", "skipped")
PENDING_DELIVERY_STATES = ("queued", "claimed", "sending")
ACTIVE_SENDS = ("scheduled", "sending", "paused")


class DatabaseCollector:
    """Sends, bounces and webhook deliveries, counted in the database at scrape time."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("kith_database_up", "1 if the metrics queries succeeded.")
        try:
            with transaction() as session:
                families = list(self._families(session))
        except SQLAlchemyError:
            current_app.logger.warning("metrics: the database did not answer", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self, session) -> Iterator[Metric]:
        messages = CounterMetricFamily(
            "kith_messages", "Issue deliveries by final outcome.", labels=["status"]
        )
        counts = dict(
            session.execute(
                select(Delivery.status, func.count())
                .where(Delivery.status.in_(FINAL_DELIVERY_STATES))
                .group_by(Delivery.status)
            ).all()
        )
        for status in FINAL_DELIVERY_STATES:
            messages.add_metric([status], counts.get(status, 0))
        yield messages

        pending = GaugeMetricFamily(
            "kith_send_pending",
            "Deliveries not yet attempted, per unfinished send.",
            labels=["send_id"],
        )
        rows = session.execute(
            select(Send.id, func.count(Delivery.id))
            .outerjoin(
                Delivery,
                (Delivery.send_id == Send.id) & Delivery.status.in_(PENDING_DELIVERY_STATES),
            )
            .where(Send.status.in_(ACTIVE_SENDS))
            .group_by(Send.id)
        ).all()
        for send_id, count in rows:
            pending.add_metric([str(send_id)], count)
        yield pending

        bounces = CounterMetricFamily(
            "kith_bounces", "Bounces and complaints by kind.", labels=["kind"]
        )
        for kind, count in session.execute(
            select(Bounce.kind, func.count()).group_by(Bounce.kind)
        ).all():
            bounces.add_metric([kind], count)
        yield bounces

        webhooks = GaugeMetricFamily(
            "kith_webhook_deliveries", "Webhook deliveries by state.", labels=["status"]
        )
        counts = dict(
            session.execute(
                select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
            ).all()
        )
        for status in ("pending", "delivering", "delivered", "failed"):
            webhooks.add_metric([status], counts.get(status, 0))
        yield webhooks
        failures = CounterMetricFamily(
            "kith_webhook_delivery_failures", "Webhook deliveries that gave up."
        )
        failures.add_metric([], counts.get("failed", 0))
        yield failures


class QueueCollector:
    """Jobs waiting in each RQ queue, read from Redis with short timeouts."""

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "kith_queue_depth", "Jobs waiting, per RQ queue.", labels=["queue"]
        )
        up = GaugeMetricFamily("kith_redis_up", "1 if Redis answered the scrape.")
        try:
            with redis.Redis.from_url(
                redis_url(), socket_connect_timeout=1, socket_timeout=1
            ) as client:
                for name in QUEUES:
                    depth.add_metric([name], client.llen(queue(name).key))
        except (redis.RedisError, OSError, EmbeddedRedisError):
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield depth


class _ProcessCollector:
    """This process's own counters (the default registry), for the single-process case."""

    def collect(self) -> Iterator[Metric]:
        return REGISTRY.collect()


def scrape() -> bytes:
    """The text exposition of every Kith metric, as of now."""
    registry = CollectorRegistry(auto_describe=False)
    # prometheus-client reads this variable itself when it loads (not a Kith setting).
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessCollector())
    registry.register(DatabaseCollector())
    registry.register(QueueCollector())
    return generate_latest(registry)


def init_app(app: Flask) -> None:
    """Count and time every response by endpoint (bounded: unknown URLs are "none")."""

    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _count(response: Response) -> Response:
        if "metrics_started" in g:
            endpoint = request.endpoint or "none"
            HTTP_REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
            HTTP_LATENCY.labels(endpoint).observe(time.perf_counter() - g.metrics_started)
        return response
