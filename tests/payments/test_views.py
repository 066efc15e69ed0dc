"""Upgrade, return page, billing portal and the /account offer.

localstripe has no Checkout or Billing Portal sessions: those two calls are checked at the HTTP
boundary by ``stripe_front`` (conftest), which records what Kith sent and answers like Stripe.
Customers are created in the real localstripe behind it.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.conftest import csrf_token, make_member, sign_in

CHECKOUT = "/v1/checkout/sessions"
PORTAL = "/v1/billing_portal/sessions"


@pytest.fixture
def reader(session, client):
    member = make_member(session)
    sign_in(client, member)
    return member


def _post(client, path):
    return client.post(path, data={"csrf_token": csrf_token(client, "/account")})


@pytest.mark.parametrize("plan", ["monthly", "yearly"])
def test_upgrade_opens_checkout_and_reuses_the_customer(
    client, session, reader, stripe_front, stripe_api, prices, plan
):
    first = _post(client, f"/account/upgrade?plan={plan}")
    assert first.status_code == 303
    assert first.headers["Location"].startswith("https://checkout.stripe.com/")
    session.refresh(reader)
    customer_id = reader.stripe_customer_id
    assert stripe_api.v1.customers.retrieve(customer_id).email == reader.email
    assert _post(client, f"/account/upgrade?plan={plan}").status_code == 303
    session.refresh(reader)
    assert reader.stripe_customer_id == customer_id
    sent = stripe_front.calls(CHECKOUT)[-2:]
    for form in sent:
        assert form["mode"] == ["subscription"]
        assert form["customer"] == [customer_id]
        assert form["line_items[0][price]"] == [prices[plan]]
        assert form["client_reference_id"] == [str(reader.id)]
        assert form["success_url"] == ["http://localhost/account/upgrade/return"]


def test_the_paywall_of_a_paid_issue_offers_both_plans_to_a_free_member(
    client, session, reader, stripe_front
):
    from app.issues import service as issues

    issue = issues.save_issue(
        session,
        {"title": "Paid", "visibility": "paid", "body_markdown": "Open.\n\n<!-- more -->\n\nShut."},
    )
    issues.publish(session, issue)
    session.commit()
    page = client.get(f"/issues/{issue.slug}").text
    assert "Shut." not in page
    assert 'action="/account/upgrade?plan=monthly"' in page
    assert 'action="/account/upgrade?plan=yearly"' in page
    token = csrf_token(client, f"/issues/{issue.slug}")
    response = client.post("/account/upgrade?plan=yearly", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://checkout.stripe.com/")


def test_unknown_plan_is_a_clear_400(client, session, reader):
    response = _post(client, "/account/upgrade?plan=lifetime")
    assert response.status_code == 400 and "monthly or yearly" in response.text
    session.refresh(reader)
    assert reader.stripe_customer_id is None


def test_upgrade_without_csrf_is_refused(client, reader):
    assert client.post("/account/upgrade?plan=monthly").status_code == 400


def test_billing_opens_the_portal(client, session, reader, stripe_front):
    reader.stripe_customer_id = "cus_known"
    session.commit()
    response = _post(client, "/account/billing")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://billing.stripe.com/")
    form = stripe_front.calls(PORTAL)[-1]
    assert form == {"customer": ["cus_known"], "return_url": ["http://localhost/account"]}


def test_billing_without_a_customer_is_a_clear_400(client, reader):
    response = _post(client, "/account/billing")
    assert response.status_code == 400 and "no paid membership" in response.text


def test_return_page_waits_then_shows_access(client, session, reader):
    waiting = client.get("/account/upgrade/return")
    assert "Confirming your payment" in waiting.text and "Refresh" in waiting.text
    assert "payments_confirm.js" in waiting.text
    assert client.get("/account/upgrade/status.json").json == {"tier": "free", "paid": False}
    reader.tier = "paid"  # as the webhook would (tests/payments/test_webhooks.py)
    session.commit()
    assert client.get("/account/upgrade/status.json").json == {"tier": "paid", "paid": True}
    assert "paid membership is active" in client.get("/account/upgrade/return").text


def test_account_offers_upgrade_then_manage_billing(client, session, reader):
    page = client.get("/account").text
    assert "Upgrade: Monthly" in page and "Upgrade: Yearly" in page
    assert "Manage billing" not in page
    reader.tier, reader.stripe_customer_id = "paid", "cus_x"
    session.commit()
    page = client.get("/account").text
    assert "Manage billing" in page and "Upgrade: Monthly" not in page


def test_without_stripe_the_paid_tier_is_visibly_off(app, client, reader):
    settings = app.extensions["kith.settings"]
    app.extensions["kith.settings"] = dataclasses.replace(settings, stripe_secret_key=None)
    page = client.get("/account")
    assert page.status_code == 200 and "Paid membership is not available" in page.text
    response = _post(client, "/account/upgrade?plan=monthly")
    assert response.status_code == 404
    assert "Paid membership is not available" in response.text


def test_pages_need_sign_in(client):
    assert client.get("/account/upgrade/return").status_code == 302
    assert client.get("/account/upgrade/status.json").status_code == 302
