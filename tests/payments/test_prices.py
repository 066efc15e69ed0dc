"""Prices the editor sets in the admin: Kith makes the Stripe prices (in the real localstripe)
and every surface that offers a plan shows them."""

from __future__ import annotations

import socket

import pytest

from app.issues import service as issues
from app.payments import prices
from tests.conftest import csrf_token, make_member, sign_in

SETTINGS = "/admin/settings"
CHECKOUT = "/v1/checkout/sessions"


@pytest.fixture
def editor(session, client):
    member = make_member(session, role="editor")
    sign_in(client, member)
    return member


def _save(client, **values):
    data = {"csrf_token": csrf_token(client, SETTINGS), "currency": "usd"} | values
    return client.post(f"{SETTINGS}/prices", data=data)


def _stored(session) -> dict[str, prices.SetPrice]:
    session.expire_all()
    return prices.current(session)


def test_editor_sets_prices_and_stripe_charges_them(client, session, editor, stripe_api):
    response = _save(client, monthly="6", yearly="60.50")
    assert response.status_code == 302
    stored = _stored(session)
    assert (stored["monthly"].amount, stored["yearly"].amount) == (600, 6050)
    monthly = stripe_api.v1.plans.retrieve(stored["monthly"].stripe_price_id)
    yearly = stripe_api.v1.plans.retrieve(stored["yearly"].stripe_price_id)
    assert (monthly.amount, monthly.interval, monthly.currency) == (600, "month", "usd")
    assert (yearly.amount, yearly.interval) == (6050, "year")
    assert monthly.product == yearly.product  # one product, two prices
    page = client.get(SETTINGS).get_data(as_text=True)
    assert "On sale now:" in page and "Monthly · $6.00" in page and "Yearly · $60.50" in page
    assert 'value="6.00"' in page  # the form shows what is on sale


def test_an_unchanged_amount_keeps_its_price_and_a_new_one_gets_a_new_price(
    client, session, editor
):
    _save(client, monthly="5", yearly="50")
    before = _stored(session)
    _save(client, monthly="5", yearly="55")
    after = _stored(session)
    assert after["monthly"].stripe_price_id == before["monthly"].stripe_price_id
    assert after["yearly"].stripe_price_id != before["yearly"].stripe_price_id
    assert after["yearly"].stripe_product_id == before["yearly"].stripe_product_id


def test_a_plan_left_empty_is_no_longer_offered(client, session, editor, stripe_front):
    _save(client, monthly="5", yearly="50")
    _save(client, monthly="5", yearly="")
    assert set(_stored(session)) == {"monthly"}
    reader = make_member(session)
    sign_in(client, reader)
    page = client.get("/account").get_data(as_text=True)
    assert "Upgrade: Monthly · $5.00" in page and "Yearly" not in page
    response = client.post(
        "/account/upgrade?plan=yearly", data={"csrf_token": csrf_token(client, "/account")}
    )
    assert response.status_code == 404  # not on sale: no Checkout for it
    assert "not available" in response.get_data(as_text=True)


def test_the_paywall_and_checkout_use_the_editors_price(client, session, editor, stripe_front):
    _save(client, monthly="7", yearly="")
    price_id = _stored(session)["monthly"].stripe_price_id
    issue = issues.save_issue(
        session,
        {"title": "Paid", "visibility": "paid", "body_markdown": "Open.\n\n<!-- more -->\n\nShut."},
    )
    issues.publish(session, issue)
    session.commit()
    reader = make_member(session)
    sign_in(client, reader)
    page = client.get(f"/issues/{issue.slug}").get_data(as_text=True)
    assert "Upgrade: Monthly · $7.00" in page and "Yearly" not in page
    token = csrf_token(client, "/account")
    assert (
        client.post("/account/upgrade?plan=monthly", data={"csrf_token": token}).status_code == 303
    )
    assert stripe_front.calls(CHECKOUT)[-1]["line_items[0][price]"] == [price_id]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"monthly": "0.20"}, "Number must be between 1"),
        ({"monthly": "lots"}, "Not a valid decimal value"),
        ({"yearly": "1000000"}, "Number must be between 1"),
        ({"monthly": "5", "currency": "xyz"}, "Not a valid choice"),
    ],
)
def test_bad_amounts_are_refused_with_the_reason(client, session, editor, values, message):
    response = _save(client, **values)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _stored(session) == {}


def test_a_zero_decimal_currency_is_stored_in_whole_units(client, session, editor):
    assert _save(client, monthly="500", currency="jpy").status_code == 302
    price = _stored(session)["monthly"]
    assert (price.amount, price.currency) == (500, "jpy")
    assert prices.format_amount(price.amount, price.currency) == "¥500"
    assert prices.format_amount(1250, "chf") == "12.50 CHF"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("app_overrides", [{}], indirect=False)
def test_without_a_stripe_key_the_admin_says_paid_membership_is_off(client, session, editor):
    page = client.get(SETTINGS).get_data(as_text=True)
    assert "Paid membership is <strong>off</strong>" in page
    assert "STRIPE_SECRET_KEY" in page and "Save prices" not in page
    response = client.post(f"{SETTINGS}/prices", data={"csrf_token": csrf_token(client, SETTINGS)})
    assert response.status_code == 302
    assert _stored(session) == {}


def test_stripe_unreachable_changes_nothing(app, client, session, editor):
    _save(client, monthly="5")
    before = _stored(session)["monthly"].stripe_price_id
    settings = app.extensions["kith.settings"]
    app.extensions.pop("kith.payments", None)
    import dataclasses

    app.extensions["kith.settings"] = dataclasses.replace(
        settings, stripe_api_base=f"http://127.0.0.1:{_closed_port()}"
    )
    try:
        response = _save(client, monthly="9", yearly="90")
    finally:
        app.extensions["kith.settings"] = settings
        app.extensions.pop("kith.payments", None)
    assert response.status_code == 502
    assert "Stripe refused the prices, so nothing changed" in response.get_data(as_text=True)
    stored = _stored(session)
    assert set(stored) == {"monthly"} and stored["monthly"].stripe_price_id == before


def test_only_editors_may_set_prices(client, session):
    sign_in(client, make_member(session))
    token = csrf_token(client, "/account")
    response = client.post(f"{SETTINGS}/prices", data={"monthly": "1", "csrf_token": token})
    assert response.status_code in (403, 404)
    assert _stored(session) == {}
