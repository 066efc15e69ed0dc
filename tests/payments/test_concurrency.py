"""The same event delivered twice at the same moment, on PostgreSQL with real connections.

Each request commits for real (no test transaction to join), so the two deliveries race on the
``stripe_events`` primary key: one applies, the other waits, fails the insert and answers 200.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import delete, func, select

from app import create_app
from app.members.models import Member
from app.payments.models import StripeEvent, Subscription
from tests.conftest import SECRET
from tests.payments.conftest import make_event, paying_customer, signed, subscribe


@pytest.fixture
def live_app(database_url, app_overrides, tmp_path, redis_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent duplicates need real concurrency: PostgreSQL")
    config = {"database_url": database_url, "instance_path": tmp_path, "redis_url": redis_url}
    app = create_app(config | {"secret_key": SECRET, "page_cache_seconds": 0} | app_overrides)
    yield app
    app.extensions["kith.db"].engine.dispose()


def test_concurrent_duplicates_apply_once(live_app, stripe_api, prices):
    database = live_app.extensions["kith.db"]
    with database.transaction() as session:
        member = Member(email="racer@example.com", status="active")
        member.stripe_customer_id = paying_customer(stripe_api, member.email)
        session.add(member)
    subscription_id = subscribe(stripe_api, member.stripe_customer_id, prices["monthly"])
    event = make_event("customer.subscription.created", {"id": subscription_id})
    body, headers = signed(event)
    start, answers = threading.Barrier(4), []

    def deliver() -> None:
        client = live_app.test_client()
        start.wait()
        response = client.post("/webhooks/stripe", data=body, headers=headers)
        answers.append((response.status_code, response.text.strip()))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(answers) == [(200, "applied")] + [(200, "duplicate")] * 3
        with database.transaction() as session:
            count = select(func.count()).where(StripeEvent.id == event["id"])
            assert session.scalar(count) == 1
            assert session.get(Member, member.id).tier == "paid"
    finally:
        with database.transaction() as session:
            session.execute(delete(StripeEvent).where(StripeEvent.id == event["id"]))
            session.execute(delete(Subscription).where(Subscription.member_id == member.id))
            session.execute(delete(Member).where(Member.id == member.id))
