"""``payment.updated`` from a real Stripe webhook (localstripe, Stripe's own signature scheme),
applied through ``POST /webhooks/stripe``."""

from __future__ import annotations

from tests.conftest import make_member
from tests.payments import conftest as payments
from tests.payments.conftest import make_event, paying_customer, signed, subscribe
from tests.webhooks.conftest import events

# The payments suite's real Stripe stand-ins, and its settings pointing Kith at them.
localstripe, stripe_front = payments.localstripe, payments.stripe_front
stripe_api, prices, app_overrides = payments.stripe_api, payments.prices, payments.app_overrides


def post(client, event):
    body, headers = signed(event)
    return client.post("/webhooks/stripe", data=body, headers=headers)


def test_a_subscription_starting_and_ending_is_announced(
    client, session, endpoint, stripe_api, prices, redis
):
    member = make_member(session)
    member.stripe_customer_id = paying_customer(stripe_api, member.email)
    session.commit()
    subscription_id = subscribe(stripe_api, member.stripe_customer_id, prices["monthly"])
    started = make_event("customer.subscription.created", {"id": subscription_id})
    assert post(client, started).text.strip() == "applied"
    [event] = events(session, "payment.updated")
    assert event.payload["subscription"] | {"current_period_end": None} == {
        "id": subscription_id, "status": "active", "previous_status": None,
        "price_id": prices["monthly"], "current_period_end": None, "cancel_at_period_end": False,
    }  # fmt: skip
    assert event.payload["member"] == {"id": member.id, "email": member.email, "tier": "paid"}
    assert "stripe_customer_id" not in str(event.payload) and "cus_" not in str(event.payload)
    tier_change = events(session, "member.updated")[0].payload["changes"]
    assert tier_change == {"tier": {"from": "free", "to": "paid"}}

    # The same state told again (a duplicate event with a new id) changes nothing: no event.
    again = make_event("invoice.paid", {"subscription": subscription_id})
    assert post(client, again).text.strip() == "applied"
    assert len(events(session, "payment.updated")) == 1

    stripe_api.v1.subscriptions.cancel(subscription_id)
    ended = make_event("customer.subscription.deleted", {"id": subscription_id})
    assert post(client, ended).text.strip() == "applied"
    last = events(session, "payment.updated")[-1].payload
    assert (last["subscription"]["previous_status"], last["subscription"]["status"]) == (
        "active", "canceled",
    )  # fmt: skip
    assert last["member"]["tier"] == "free"
