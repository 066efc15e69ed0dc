"""Payments fixtures: a real ``localstripe`` server, an HTTP front for what it lacks, and
webhook events signed with Stripe's own scheme.

localstripe serves customers, plans/prices, subscriptions and tokens. It has no Checkout
Sessions and no Billing Portal sessions, so ``stripe_front`` (a small real HTTP server) records
those two calls and answers them the way Stripe does; every other request it forwards to
localstripe unchanged. ``STRIPE_API_BASE`` points at the front.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import stripe

SECRET_KEY = "sk_test_kith"
WEBHOOK_SECRET = "whsec_test_kith"
LOCAL_ONLY = ("/v1/checkout/sessions", "/v1/billing_portal/sessions")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("localstripe exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("localstripe did not start")


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory) -> Iterator[str]:
    """A real localstripe process on a free port, fresh for this test session."""
    port = _free_port()
    binary = Path(sys.executable).with_name("localstripe")
    process = subprocess.Popen(
        [str(binary), "--port", str(port), "--from-scratch"],
        cwd=tmp_path_factory.mktemp("localstripe"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


class StripeFront(ThreadingHTTPServer):
    """Answers Checkout/Portal session creation like Stripe; forwards the rest to localstripe."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _FrontHandler)
        self.upstream = upstream
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self.before_next_read: Callable[[], None] | None = None  # an outage, at a known moment
        # A slow answer: runs once Stripe has answered the next read, before the answer leaves.
        self.after_next_read: Callable[[], None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def calls(self, path: str) -> list[dict[str, list[str]]]:
        return [form for seen, form in self.requests if seen == path]


class _FrontHandler(BaseHTTPRequestHandler):
    server: StripeFront

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        body = self._body()
        path = self.path.split("?")[0]
        if path in LOCAL_ONLY:
            form = parse_qs(body.decode())
            self.server.requests.append((path, form))
            kind = "cs" if "checkout" in path else "bps"
            session_id = f"{kind}_test_{len(self.server.requests)}"
            host = "checkout.stripe.com/c/pay" if kind == "cs" else "billing.stripe.com/p/session"
            answer = {"id": session_id, "object": path[4:].replace("/", ".")[:-1]}
            answer["url"] = f"https://{host}/{session_id}"
            self._answer(200, json.dumps(answer).encode())
            return
        self._forward("POST", body)

    def do_GET(self) -> None:
        hook, self.server.before_next_read = self.server.before_next_read, None
        if hook is not None:
            hook()
        self._forward("GET", None)

    def do_DELETE(self) -> None:
        self._forward("DELETE", None)

    def _forward(self, method: str, body: bytes | None) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
        request = urllib.request.Request(
            self.server.upstream + self.path, data=body, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        if method == "GET":
            hook, self.server.after_next_read = self.server.after_next_read, None
            if hook is not None:
                hook()
        self._answer(status, body)


@pytest.fixture(scope="session")
def stripe_front(localstripe) -> Iterator[StripeFront]:
    server = StripeFront(localstripe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def stripe_api(localstripe) -> stripe.StripeClient:
    """The test's own hands on localstripe (Kith goes through its gateway)."""
    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": localstripe})


@pytest.fixture(scope="session")
def prices(stripe_api) -> dict[str, str]:
    """Monthly and yearly prices (localstripe keeps prices as plans)."""
    product = stripe_api.v1.products.create(params={"name": "Kith membership"})
    suffix = os.urandom(3).hex()
    found = {}
    for plan, interval, amount in (("monthly", "month", 500), ("yearly", "year", 5000)):
        params = {"id": f"price_{plan}_{suffix}", "amount": amount, "currency": "usd"}
        params |= {"interval": interval, "product": product.id}
        found[plan] = stripe_api.v1.plans.create(params=params).id
    return found


@pytest.fixture
def app_overrides(stripe_front, prices) -> dict:
    return {
        "stripe_secret_key": SECRET_KEY,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_price_monthly": prices["monthly"],
        "stripe_price_yearly": prices["yearly"],
        "stripe_api_base": stripe_front.url,
    }


def signed(event: dict, *, secret: str = WEBHOOK_SECRET) -> tuple[bytes, dict[str, str]]:
    """A webhook body and its ``Stripe-Signature`` header, by Stripe's scheme (t=…,v1=…)."""
    payload = json.dumps(event)
    timestamp = int(time.time())
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{payload}", secret)
    return payload.encode(), {"Stripe-Signature": f"t={timestamp},v1={signature}"}


def make_event(event_type: str, obj: dict, *, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_{os.urandom(8).hex()}",
        "object": "event",
        "type": event_type,
        "data": {"object": obj},
    }


def paying_customer(stripe_api: stripe.StripeClient, email: str) -> str:
    """A localstripe customer with a card that pays."""
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2035, "cvc": "123"}
    token = stripe_api.v1.tokens.create(params={"card": card})
    return stripe_api.v1.customers.create(params={"email": email, "source": token.id}).id


def subscribe(stripe_api: stripe.StripeClient, customer_id: str, price: str) -> str:
    params = {"customer": customer_id, "items": [{"plan": price}]}
    return stripe_api.v1.subscriptions.create(params=params).id
