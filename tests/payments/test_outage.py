"""A Stripe webhook, and pages, while the database server is down (reliability.md F10).

The app runs against a private PostgreSQL server (tests/postgres_server.py) that is crashed
with ``pg_ctl -m immediate``: Stripe must get a 503, so it delivers again, and nothing of the
event may be half-applied; after the restart the redelivery applies once, a replay not at all.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from app import create_app
from app.members.models import Member
from app.payments.models import StripeEvent, Subscription
from tests.conftest import SECRET, close_app, sign_in
from tests.payments.conftest import make_event, paying_customer, signed, subscribe
from tests.workers import migrate


@pytest.fixture
def outage_app(private_postgres, app_overrides, redis_url, tmp_path) -> Iterator[Flask]:
    url = migrate(private_postgres.create_database("kith_webhooks"), tmp_path)
    config = {"database_url": url, "instance_path": tmp_path / "instance", "secret_key": SECRET}
    app = create_app(
        config | {"redis_url": redis_url, "page_cache_seconds": 0} | app_overrides,
    )
    yield app
    close_app(app)


def stored(app: Flask, member_id: int) -> tuple[int, int, str]:
    """(Stripe events recorded, subscriptions, the member's tier)."""
    with app.extensions["kith.db"].transaction() as session:
        events = session.scalar(select(func.count()).select_from(StripeEvent))
        subscriptions = session.scalar(select(func.count()).select_from(Subscription))
        return events, subscriptions, session.get(Member, member_id).tier


@pytest.fixture
def delivery(outage_app, stripe_api, prices) -> tuple[Member, bytes, dict[str, str]]:
    """A paying member's new subscription, and Stripe's signed event about it."""
    with outage_app.extensions["kith.db"].transaction() as session:
        member = Member(email="outage@example.com", status="active")
        member.stripe_customer_id = paying_customer(stripe_api, member.email)
        session.add(member)
    subscription_id = subscribe(stripe_api, member.stripe_customer_id, prices["monthly"])
    body, headers = signed(make_event("customer.subscription.created", {"id": subscription_id}))
    return member, body, headers


def redelivered_once(app: Flask, body: bytes, headers: dict[str, str], member_id: int) -> None:
    """After the outage: nothing was kept; Stripe's retry applies, a replay does nothing."""
    client = app.test_client()
    assert stored(app, member_id) == (0, 0, "free"), "part of the event outlived the crash"
    again = client.post("/webhooks/stripe", data=body, headers=headers)
    assert (again.status_code, again.text.strip()) == (200, "applied")
    replay = client.post("/webhooks/stripe", data=body, headers=headers)
    assert (replay.status_code, replay.text.strip()) == (200, "duplicate")
    assert stored(app, member_id) == (1, 1, "paid")


def test_f10_a_webhook_while_postgres_is_down_is_503_and_its_redelivery_applies_once(
    outage_app, private_postgres, delivery
):
    member, body, headers = delivery
    client, reader = outage_app.test_client(), outage_app.test_client()
    sign_in(reader, member)

    private_postgres.crash()
    try:
        down = client.post("/webhooks/stripe", data=body, headers=headers)
        assert down.status_code == 503, down.text
        page = reader.get("/")  # a signed-in reader: loading the member needs the database
        assert page.status_code == 503, page.text
        assert "Back in a moment" in page.text and "Traceback" not in page.text
    finally:
        private_postgres.start()

    redelivered_once(outage_app, body, headers, member.id)
    assert reader.get("/").status_code == 200  # the pool's dead connections were replaced


def test_f10_postgres_crashing_while_a_webhook_is_applied_keeps_none_of_it(
    outage_app, private_postgres, stripe_front, delivery
):
    """The event row is already flushed when Kith reads the subscription from Stripe; the
    crash comes right then, so the commit never happens and the answer is 503."""
    member, body, headers = delivery
    stripe_front.before_next_read = private_postgres.crash
    try:
        response = outage_app.test_client().post("/webhooks/stripe", data=body, headers=headers)
        assert stripe_front.before_next_read is None, "the webhook never read from Stripe"
        assert response.status_code == 503, response.text
    finally:
        stripe_front.before_next_read = None
        private_postgres.start()

    redelivered_once(outage_app, body, headers, member.id)
