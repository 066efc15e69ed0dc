"""Several jobs for one delivery at once, committing for real: exactly one makes the request.

RQ re-runs abandoned jobs and the sweep may queue a job that already exists, so duplicates
happen; the conditional UPDATE that claims a delivery is what keeps them harmless.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete

from app import create_app
from app.db import utcnow
from app.webhooks import endpoints, jobs, outbox, service
from app.webhooks.models import EVENT_TYPES, WebhookEndpoint, WebhookEvent
from tests.conftest import SECRET, close_app

JOBS = 4


@pytest.fixture
def live_app(database_url, tmp_path, redis_url):
    config = {"database_url": database_url, "instance_path": tmp_path, "redis_url": redis_url,
              "secret_key": SECRET, "base_url": "http://localhost",
              "WEBHOOK_TIMEOUT_SECONDS": 5}  # fmt: skip
    app = create_app(config)
    yield app
    with app.extensions["kith.db"].transaction() as session:
        session.execute(delete(WebhookEndpoint))  # deliveries and attempts go with it
        session.execute(delete(WebhookEvent))
    close_app(app)


def test_concurrent_jobs_for_one_delivery_make_one_request(live_app, receiver):
    database = live_app.extensions["kith.db"]
    with database.transaction() as session:
        choice = endpoints.Choice(url=receiver.url, events=EVENT_TYPES)
        endpoint = endpoints.create(session, choice, base_url="http://localhost")
        # Outside an app context no job is queued at commit: this test runs the jobs itself.
        outbox.record(session, "member.created", [{"member": {"id": 1}}], [endpoint.id],
                      now=utcnow())  # fmt: skip
    with database.transaction() as session:
        [(delivery_id, _)] = service.due(session)
    receiver.hang_seconds = 0.3  # a slow receiver: the others arrive while the first waits
    receiver.answer("hang")
    start, results = threading.Barrier(JOBS), []

    def run() -> None:
        with live_app.app_context():
            start.wait()
            results.append(jobs.attempt(delivery_id))

    threads = [threading.Thread(target=run) for _ in range(JOBS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == ["delivered"] + ["not due"] * (JOBS - 1)
    assert len(receiver.received) == 1
