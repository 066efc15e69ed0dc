"""An anonymous reader hits a paid issue's paywall, signs in, upgrades through Stripe Checkout,
comes back to Kith and reads the whole issue.

Stripe is ``localstripe`` (customers, prices, subscriptions) behind the payments tests' front,
which answers Checkout session creation with a ``https://checkout.stripe.com/c/pay/…`` URL
(localstripe has no Checkout). This Chromium resolves checkout.stripe.com to a small HTTPS
stand-in on loopback, so the browser really leaves Kith for that URL. On that page the test
plays Stripe: it charges the member's customer (a real subscription in localstripe), sends the
browser back to the success URL Kith gave Checkout, then delivers the signed webhook.
"""

from __future__ import annotations

import ssl
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import stripe
from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.db import transaction
from app.issues import service as issues
from app.members.models import Member
from tests.conftest import run_jobs
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, live_kith
from tests.e2e.test_membership import last_link
from tests.payments import conftest as payments
from tests.payments.conftest import (
    SECRET_KEY,
    WEBHOOK_SECRET,
    StripeFront,
    make_event,
    signed,
    subscribe,
)

# The payments fixtures this test uses, where pytest looks for them (this module's names).
localstripe, stripe_front = payments.localstripe, payments.stripe_front
prices, stripe_api = payments.prices, payments.stripe_api

pytestmark = pytest.mark.browser
CANARY = "Paid readers only: the crumb opens best after a night in the fridge."
READER = "reader@example.com"
CHECKOUT = "/v1/checkout/sessions"
HOST = "checkout.stripe.com"
PAGE = "/c/pay/"  # Checkout URLs are https://checkout.stripe.com/c/pay/<session id>


class CheckoutPage(BaseHTTPRequestHandler):
    """checkout.stripe.com's page for a session the payments front created: a Subscribe link
    to the session's success URL (paying itself is the test's part, in localstripe)."""

    server: CheckoutServer

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        session_id = self.path.removeprefix(PAGE)
        sessions = self.server.front.calls(CHECKOUT)
        if not self.path.startswith(PAGE) or f"cs_test_{len(sessions)}" != session_id:
            self.send_error(404)
            return
        form = sessions[-1]
        body = (
            "<!doctype html><title>Checkout</title><h1>Stand-in Stripe Checkout</h1>"
            f"<p>Price {escape(form['line_items[0][price]'][0])}</p>"
            f'<a href="{escape(form["success_url"][0])}">Subscribe</a>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class CheckoutServer(ThreadingHTTPServer):
    """HTTPS on loopback with a self-signed certificate for checkout.stripe.com."""

    daemon_threads = True

    def __init__(self, front: StripeFront, certificate: Path, key: Path) -> None:
        super().__init__(("127.0.0.1", 0), CheckoutPage)
        self.front = front
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
        self.socket = context.wrap_socket(self.socket, server_side=True)


def self_signed(directory: Path, host: str) -> tuple[Path, Path]:
    certificate, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", f"/CN={host}", "-addext", f"subjectAltName=DNS:{host}",
         "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True,
    )  # fmt: skip
    return certificate, key


@pytest.fixture(scope="session")
def checkout(stripe_front, tmp_path_factory) -> Iterator[CheckoutServer]:
    server = CheckoutServer(stripe_front, *self_signed(tmp_path_factory.mktemp("tls"), HOST))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def page(browser, checkout) -> Iterator[Page]:
    """conftest's page, in a Chromium that resolves checkout.stripe.com to the stand-in."""
    rule = f"--host-resolver-rules=MAP {HOST} 127.0.0.1:{checkout.server_address[1]}"
    chromium = browser.browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, rule])
    context = chromium.new_context(
        viewport={"width": 1280, "height": 900}, ignore_https_errors=True
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    chromium.close()


@pytest.fixture
def live_app(database_url, tmp_path, redis_url, stripe_front, prices):
    """conftest's live Kith with Stripe configured, on each backend."""
    with live_kith(
        tmp_path,
        redis_url,
        database_url,
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_price_monthly=prices["monthly"],
        stripe_price_yearly=prices["yearly"],
        stripe_api_base=stripe_front.url,
    ) as served:
        yield served


@pytest.fixture
def paid_issue(live_app, redis) -> str:
    """A published paid issue and a free member who has never paid; returns the issue's slug."""
    _, app = live_app
    with app.app_context(), transaction() as session:
        session.add(Member(email=READER, status="active"))
        issue = issues.save_issue(
            session,
            {"title": "Crumb notes", "visibility": "paid",
             "body_markdown": f"What the open teaser says.\n\n<!-- more -->\n\n{CANARY}\n"},
        )  # fmt: skip
        issues.publish(session, issue)
        return issue.slug


def pay_for(stripe_api: stripe.StripeClient, customer_id: str, price: str) -> str:
    """What paying on Checkout does in Stripe: a card on the customer, a live subscription."""
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
    token = stripe_api.v1.tokens.create(params={"card": card})
    stripe_api.v1.customers.payment_sources.create(customer_id, params={"source": token.id})
    return subscribe(stripe_api, customer_id, price)


def deliver(base: str, event: dict) -> str:
    """POST a signed webhook event to Kith the way Stripe does; returns Kith's answer."""
    body, headers = signed(event)
    headers["Content-Type"] = "application/json; charset=utf-8"
    request = urllib.request.Request(
        f"{base}/webhooks/stripe", data=body, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode().strip()


def test_paywall_sign_in_upgrade_and_read_it_all(
    live_app,
    page,
    paid_issue,
    stripe_front,
    stripe_api,
    prices,
):
    base, app = live_app
    paywall = page.get_by_role("complementary", name="This issue is for paid members")

    page.goto(f"{base}/issues/{paid_issue}")
    expect(paywall).to_be_visible()
    expect(page.get_by_text("What the open teaser says.")).to_be_visible()
    expect(page.get_by_text(CANARY)).to_have_count(0)

    paywall.get_by_role("link", name="Sign in").click()
    page.get_by_label("Email address").fill(READER)
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    app.extensions["kith.db"].engine.dispose()  # the worker drops the pool without closing it
    run_jobs(app)
    page.goto(last_link(app, base, "/login/"))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/issues/{paid_issue}")
    expect(paywall).to_be_visible()
    expect(page.get_by_text(CANARY)).to_have_count(0)

    paywall.get_by_role("link", name="Upgrade to read it all").click()
    expect(page).to_have_url(f"{base}/account#membership")
    page.get_by_role("button", name="Upgrade: Monthly").click()
    expect(page.get_by_role("heading", name="Stand-in Stripe Checkout")).to_be_visible()
    session_form = stripe_front.calls(CHECKOUT)[-1]
    assert page.url.startswith(f"https://{HOST}{PAGE}")
    checkout_session_id = page.url.rsplit("/", 1)[-1]
    assert session_form["line_items[0][price]"] == [prices["monthly"]]
    assert session_form["success_url"] == [f"{base}/account/upgrade/return"]
    with app.app_context(), transaction() as session:
        member = session.scalar(select(Member).where(Member.email == READER))
        member_id, customer_id = member.id, member.stripe_customer_id
    assert session_form["customer"] == [customer_id]
    assert session_form["client_reference_id"] == [str(member_id)]

    subscription_id = pay_for(stripe_api, customer_id, prices["monthly"])
    page.get_by_role("link", name="Subscribe").click()  # Stripe sends the reader back…
    expect(page).to_have_url(f"{base}/account/upgrade/return")
    expect(page.get_by_text("Confirming your payment with Stripe")).to_be_visible()

    completed = {  # …and, a moment later, the webhook arrives
        "id": checkout_session_id,
        "object": "checkout.session",
        "mode": "subscription",
        "status": "complete",
        "payment_status": "paid",
        "customer": customer_id,
        "subscription": subscription_id,
        "client_reference_id": str(member_id),
    }
    assert deliver(base, make_event("checkout.session.completed", completed)) == "applied"
    expect(page.get_by_text("Your paid membership is active")).to_be_visible()

    page.goto(f"{base}/issues/{paid_issue}")
    expect(page.get_by_text(CANARY)).to_be_visible()
    expect(paywall).to_have_count(0)
