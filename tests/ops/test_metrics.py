"""/metrics: a bearer-protected Prometheus scrape, parsed with prometheus_client's parser."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from app.inbound import service as inbound
from app.queue import enqueue
from app.sending.models import Bounce, Send
from tests.conftest import make_member
from tests.sending.deliveries import sent_deliveries

TOKEN = "scrape-me-please"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app_overrides() -> dict:
    return {"metrics_token": TOKEN}


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Every sample of a scrape: (name, sorted labels) → value."""
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def test_without_the_token_there_is_nothing_to_read(client):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert "bearer token" in response.get_data(as_text=True)
        assert "kith_" not in response.get_data(as_text=True)


@pytest.mark.parametrize("app_overrides", [{"metrics_token": None}])
def test_without_a_configured_token_the_endpoint_does_not_exist(client):
    assert client.get("/metrics", headers=AUTH).status_code == 404


def test_sending_counts_come_from_the_database(client, session, redis):
    members = [make_member(session) for _ in range(5)]
    deliveries = list(sent_deliveries(session).values())
    deliveries[0].status, deliveries[1].status = "failed", "bounced"
    session.add(Bounce(member_id=members[1].id, delivery_id=deliveries[1].id, kind="hard"))
    finished = deliveries[0].send_id
    session.execute(update(Send).where(Send.id == finished).values(status="done"))
    # A second send still under way, with three recipients waiting.
    deliveries = list(sent_deliveries(session).values())
    send_id = deliveries[0].send_id
    session.execute(update(Send).where(Send.id == send_id).values(status="sending"))
    for delivery in deliveries[:3]:
        delivery.status = "queued"
    session.commit()

    samples = scrape(client)
    assert samples[("kith_database_up", ())] == 1
    assert samples[("kith_messages_total", (("status", "sent"),))] == 3 + 2
    assert samples[("kith_messages_total", (("status", "failed"),))] == 1
    assert samples[("kith_messages_total", (("status", "bounced"),))] == 1
    assert samples[("kith_send_pending", (("send_id", str(send_id)),))] == 3
    assert ("kith_send_pending", (("send_id", str(finished)),)) not in samples
    assert samples[("kith_bounces_total", (("kind", "hard"),))] == 1
    assert samples[("kith_webhook_delivery_failures_total", ())] == 0


def test_queue_depth_per_rq_queue(client, redis):
    assert scrape(client)[("kith_queue_depth", (("queue", "mail"),))] == 0
    with client.application.app_context():
        enqueue("app.sending.jobs.reconcile", queue_name="mail")
        enqueue("app.sending.jobs.reconcile", queue_name="mail")
    samples = scrape(client)
    assert samples[("kith_redis_up", ())] == 1
    assert samples[("kith_queue_depth", (("queue", "mail"),))] == 2
    assert samples[("kith_queue_depth", (("queue", "send"),))] == 0


def test_a_scrape_without_redis_still_answers(app, client):
    app.extensions["kith.redis_url"] = "redis://127.0.0.1:1/0"
    samples = scrape(client)
    assert samples[("kith_redis_up", ())] == 0
    assert not any(name == "kith_queue_depth" for name, _ in samples)


def test_http_requests_by_endpoint_status_and_latency(client, redis):
    key = ("kith_http_requests_total", (("endpoint", "health.healthz"), ("method", "GET"),
                                        ("status", "200")))  # fmt: skip
    count = ("kith_http_request_duration_seconds_count", (("endpoint", "health.healthz"),))
    missing = ("kith_http_requests_total", (("endpoint", "none"), ("method", "GET"),
                                            ("status", "404")))  # fmt: skip
    before = scrape(client)
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no-such-page")
    after = scrape(client)
    assert after[key] - before.get(key, 0) == 2
    assert after[count] - before.get(count, 0) == 2
    assert after[missing] - before.get(missing, 0) == 1


def test_inbound_mail_outcomes_are_counted(client, redis):
    key = ("kith_inbound_messages_total", (("outcome", inbound.IGNORED),))
    before = scrape(client).get(key, 0)
    inbound.after_commit(inbound.Outcome(inbound.IGNORED, "an auto-reply"))
    assert scrape(client)[key] - before == 1
