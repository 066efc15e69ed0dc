"""The same event delivered twice at the same moment, on PostgreSQL with real connections.

Each request commits for real (no test transaction to join), so the two deliveries race on the
``stripe_events`` primary key: one applies, the other waits, fails the insert and answers 200.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import delete, func, select, text

from app import create_app
from app.members.models import Member
from app.payments.models import StripeEvent, Subscription
from tests.conftest import SECRET, close_app
from tests.payments.conftest import make_event, paying_customer, signed, subscribe


@pytest.fixture
def live_app(database_url, app_overrides, tmp_path, redis_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent duplicates need real concurrency: PostgreSQL")
    config = {"database_url": database_url, "instance_path": tmp_path, "redis_url": redis_url}
    app = create_app(config | {"secret_key": SECRET, "page_cache_seconds": 0} | app_overrides)
    yield app
    close_app(app)


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


def test_a_slow_read_overtaken_by_a_later_change_is_not_written_last(
    live_app, stripe_api, prices, stripe_front
):
    """Stripe answers one event's read slowly; meanwhile the subscription is canceled and the
    cancel's own event arrives. The slow answer (still active) must not be written after the
    cancel: one member's events apply one at a time, each reading Stripe only once the one
    before it has committed. Stripe's answers take a few hundred milliseconds, and vary
    (found while building bench/storm.py, whose later events usually repair such a write)."""
    database = live_app.extensions["kith.db"]
    with database.transaction() as session:
        member = Member(email="slow-read@example.com", status="active")
        member.stripe_customer_id = paying_customer(stripe_api, member.email)
        session.add(member)
    subscription = {"customer": member.stripe_customer_id}
    subscription["id"] = subscribe(stripe_api, member.stripe_customer_id, prices["monthly"])
    events = [make_event(kind, subscription) for kind in (
        "customer.subscription.created", "customer.subscription.updated",
        "customer.subscription.deleted")]  # fmt: skip
    answers: dict[str, tuple[int, str]] = {}

    def deliver(event: dict) -> None:
        body, headers = signed(event)
        response = live_app.test_client().post("/webhooks/stripe", data=body, headers=headers)
        answers[event["type"]] = (response.status_code, response.text.strip())

    read, release = threading.Event(), threading.Event()
    try:
        deliver(events[0])
        stripe_front.after_next_read = lambda: (read.set(), release.wait(10))
        slow = threading.Thread(target=deliver, args=(events[1],))
        slow.start()
        assert read.wait(10), "the update never read from Stripe"
        stripe_api.v1.subscriptions.cancel(subscription["id"])
        cancel = threading.Thread(target=deliver, args=(events[2],))
        cancel.start()
        deadline = time.monotonic() + 10  # the cancel is applied, or waits for the slow one
        while (
            cancel.is_alive() and not _waiting_on_a_lock(database) and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        release.set()
        slow.join(10)
        cancel.join(10)
        assert set(answers.values()) == {(200, "applied")}, answers
        with database.transaction() as session:
            row = session.scalar(select(Subscription).where(Subscription.member_id == member.id))
            assert row.status == "canceled"
            assert session.get(Member, member.id).tier == "free"
    finally:
        release.set()
        stripe_front.after_next_read = None
        with database.transaction() as session:
            ids = [event["id"] for event in events]
            session.execute(delete(StripeEvent).where(StripeEvent.id.in_(ids)))
            session.execute(delete(Subscription).where(Subscription.member_id == member.id))
            session.execute(delete(Member).where(Member.id == member.id))


def _waiting_on_a_lock(database) -> int:
    """How many other connections to this database wait for a lock."""
    with database.engine.connect() as connection:
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return connection.scalar(query) or 0


def test_two_first_events_of_a_subscription_without_a_member_both_apply(
    live_app, stripe_api, prices
):
    """A customer with no Kith member (made at Stripe directly) has no row to lock, so two
    different events of one new subscription can both find no subscription row and insert
    one: the second insert fails on the unique index. It is applied once more (finding the
    row), where it answered 500 and waited for Stripe's retry. The test holds inserts into
    ``subscriptions`` (a SHARE lock) until both deliveries wait to insert."""
    database = live_app.extensions["kith.db"]
    subscription = {"customer": paying_customer(stripe_api, "nobody-here@example.com")}
    subscription["id"] = subscribe(stripe_api, subscription["customer"], prices["monthly"])
    events = [make_event(kind, subscription) for kind in (
        "customer.subscription.created", "customer.subscription.updated")]  # fmt: skip
    answers: dict[str, tuple[int, str]] = {}

    def deliver(event: dict) -> None:
        body, headers = signed(event)
        response = live_app.test_client().post("/webhooks/stripe", data=body, headers=headers)
        answers[event["type"]] = (response.status_code, response.text.strip())

    threads = [threading.Thread(target=deliver, args=(event,)) for event in events]
    try:
        with database.engine.connect() as holder:
            holder.execute(text("LOCK TABLE subscriptions IN SHARE MODE"))
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 10
            while _waiting_on_a_lock(database) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert _waiting_on_a_lock(database) == 2, "both should wait to insert the row"
            holder.commit()
        for thread in threads:
            thread.join(10)
        assert set(answers.values()) == {(200, "applied")}, answers
        with database.transaction() as session:
            rows = select(func.count()).where(
                Subscription.stripe_subscription_id == subscription["id"]
            )
            assert session.scalar(rows) == 1
    finally:
        with database.transaction() as session:
            ids = [event["id"] for event in events]
            session.execute(delete(StripeEvent).where(StripeEvent.id.in_(ids)))
            session.execute(
                delete(Subscription).where(
                    Subscription.stripe_subscription_id == subscription["id"]
                )
            )
