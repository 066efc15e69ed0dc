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
from tests.conftest import SECRET, sign_in
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
    app.extensions["kith.db"].engine.dispose()


def stored(app: Flask, member_id: int) -> tuple[int, int, str]:
    """(Stripe events recorded, subscriptions, the member's tier)."""
    with app.extensions["kith.db"].transaction() as session:
        events = session.scalar(select(func.count()).select_from(StripeEvent))
        subscriptions = session.scalar(select(func.count()).select_from(Subscription))
        return events, subscriptions, session.get(Member, member_id).tier


def test_f10_a_webhook_while_postgres_is_down_is_503_and_its_redelivery_applies_once(
    outage_app, private_postgres, stripe_api, prices
):
    with outage_app.extensions["kith.db"].transaction() as session:
        member = Member(email="outage@example.com", status="active")
        member.stripe_customer_id = paying_customer(stripe_api, member.email)
        session.add(member)
    subscription_id = subscribe(stripe_api, member.stripe_customer_id, prices["monthly"])
    event = make_event("customer.subscription.created", {"id": subscription_id})
    body, headers = signed(event)
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
    assert stored(outage_app, member.id) == (0, 0, "free")  # nothing of the event was kept

    again = client.post("/webhooks/stripe", data=body, headers=headers)  # Stripe retries
    assert (again.status_code, again.text.strip()) == (200, "applied")
    replay = client.post("/webhooks/stripe", data=body, headers=headers)
    assert (replay.status_code, replay.text.strip()) == (200, "duplicate")
    assert stored(outage_app, member.id) == (1, 1, "paid")
    assert reader.get("/").status_code == 200  # the pool's dead connections were replaced
