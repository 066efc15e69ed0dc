"""POST /webhooks/stripe: verified, applied once, order-safe, re-reading Stripe every time."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from app.db import utcnow
from app.members.models import Member
from app.payments.models import StripeEvent, Subscription
from tests.conftest import make_member
from tests.payments.conftest import make_event, paying_customer, signed, subscribe


def post(client, event, **kwargs):
    body, headers = signed(event, **kwargs)
    return client.post("/webhooks/stripe", data=body, headers=headers)


@pytest.fixture
def member(session, stripe_api) -> Member:
    member = make_member(session)
    member.stripe_customer_id = paying_customer(stripe_api, member.email)
    session.commit()
    return member


def events(session) -> int:
    return session.scalar(select(func.count()).select_from(StripeEvent))


def test_subscription_created_grants_paid(client, session, member, stripe_api, prices):
    subscription_id = subscribe(stripe_api, member.stripe_customer_id, prices["monthly"])
    event = make_event("customer.subscription.created", {"id": subscription_id})
    response = post(client, event)
    assert response.status_code == 200 and response.text.strip() == "applied"
    session.refresh(member)
    assert member.tier == "paid"
    row = session.scalar(select(Subscription).where(Subscription.member_id == member.id))
    assert (row.status, row.price_id) == ("active", prices["monthly"])
    assert row.current_period_end > utcnow()


def test_forged_signature_is_refused_and_changes_nothing(
    client, session, member, stripe_api, prices
):
    subscription_id = subscribe(stripe_api, member.stripe_customer_id, prices["monthly"])
    event = make_event("customer.subscription.created", {"id": subscription_id})
    response = post(client, event, secret="whsec_forged")
    assert response.status_code == 400
    unsigned = client.post("/webhooks/stripe", data=b"{}", headers={})
    assert unsigned.status_code == 400
    session.refresh(member)
    assert member.tier == "free" and events(session) == 0


def test_valid_signature_on_a_body_that_is_not_an_event_is_400(client, session):
    body, headers = signed({"hello": "world"})
    assert client.post("/webhooks/stripe", data=body, headers=headers).status_code == 400


def test_duplicate_event_changes_nothing_the_second_time(
    client, session, member, stripe_api, prices
):
    subscription_id = subscribe(stripe_api, member.stripe_customer_id, prices["monthly"])
    event = make_event("customer.subscription.created", {"id": subscription_id})
    assert post(client, event).text.strip() == "applied"
    # An editor comps the member down meanwhile; a replay must not undo that.
    session.refresh(member)
    member.tier = "free"
    session.commit()
    response = post(client, event)
    assert response.status_code == 200 and response.text.strip() == "duplicate"
    session.refresh(member)
    assert member.tier == "free" and events(session) == 1


def test_out_of_order_deleted_before_updated_ends_as_stripe_has_it(
    client, session, member, stripe_api, prices
):
    subscription_id = subscribe(stripe_api, member.stripe_customer_id, prices["yearly"])
    assert post(client, make_event("customer.subscription.created", {"id": subscription_id}))
    session.refresh(member)
    assert member.tier == "paid"
    stripe_api.v1.subscriptions.cancel(subscription_id)
    # deleted arrives first, then a stale "updated" (status active in its payload).
    post(client, make_event("customer.subscription.deleted", {"id": subscription_id}))
    stale = {"id": subscription_id, "status": "active"}
    assert post(client, make_event("customer.subscription.updated", stale)).status_code == 200
    session.refresh(member)
    row = session.scalar(select(Subscription).where(Subscription.member_id == member.id))
    assert row.status == "canceled" and member.tier == "free"


def test_unknown_event_type_is_ignored(client, session):
    response = post(client, make_event("charge.dispute.created", {"id": "dp_1"}))
    assert response.status_code == 200 and response.text.strip() == "ignored"
    assert events(session) == 0


def test_invoice_paid_reads_the_subscription_back(client, session, member, stripe_api, prices):
    subscription_id = subscribe(stripe_api, member.stripe_customer_id, prices["monthly"])
    invoice = {"id": "in_1", "subscription": subscription_id}
    assert post(client, make_event("invoice.paid", invoice)).text.strip() == "applied"
    session.refresh(member)
    assert member.tier == "paid"


@pytest.mark.parametrize(
    "paid_event",
    [
        "checkout.session.completed",  # the card payment went through
        "checkout.session.async_payment_succeeded",  # F12: a bank debit, days later
    ],
)
def test_checkout_gives_access_only_once_paid(client, session, stripe_api, prices, paid_event):
    member = make_member(session)
    customer_id = paying_customer(stripe_api, member.email)
    subscription_id = subscribe(stripe_api, customer_id, prices["monthly"])
    checkout = {
        "id": "cs_1",
        "customer": customer_id,
        "subscription": subscription_id,
        "client_reference_id": str(member.id),
        "payment_status": "unpaid",
    }
    post(client, make_event("checkout.session.completed", checkout))
    session.refresh(member)
    assert member.tier == "free" and member.stripe_customer_id is None
    paid = checkout | {"payment_status": "paid"}
    assert post(client, make_event(paid_event, paid)).text.strip() == "applied"
    session.refresh(member)
    assert member.tier == "paid" and member.stripe_customer_id == customer_id


def test_customer_deleted_ends_access_and_clears_the_customer(
    client, session, member, stripe_api, prices
):
    subscription_id = subscribe(stripe_api, member.stripe_customer_id, prices["monthly"])
    post(client, make_event("customer.subscription.created", {"id": subscription_id}))
    customer_id = member.stripe_customer_id
    stripe_api.v1.customers.delete(customer_id)
    response = post(client, make_event("customer.deleted", {"id": customer_id}))
    assert response.status_code == 200
    session.refresh(member)
    assert member.tier == "free" and member.stripe_customer_id is None
    row = session.scalar(select(Subscription).where(Subscription.member_id == member.id))
    assert row.status == "canceled"


def test_webhook_is_404_without_stripe_configured(app, client):
    app.extensions["kith.settings"] = _without_stripe(app.extensions["kith.settings"])
    body, headers = signed(make_event("invoice.paid", {"id": "in_1"}))
    assert client.post("/webhooks/stripe", data=body, headers=headers).status_code == 404


def _without_stripe(settings):
    return dataclasses.replace(settings, stripe_secret_key=None, stripe_webhook_secret=None)
