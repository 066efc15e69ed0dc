"""Stripe behind one small interface: the only module that imports ``stripe``.

Every call builds its own ``StripeClient`` from the app's settings (key and API base), so
nothing global is configured and tests point ``STRIPE_API_BASE`` at a local server. Answers
come back as plain values, never Stripe objects, so the service does not depend on the SDK.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe

from app.config import Settings

# A missing (or deleted) object answers 404.
NOT_FOUND = 404


class GatewayError(Exception):
    """Stripe could not be reached or refused the request; nothing was changed on our side."""


class InvalidEvent(Exception):
    """A webhook body whose signature does not verify, or that is not a Stripe event."""


@dataclass(frozen=True)
class RemoteSubscription:
    """A subscription as Stripe holds it now (read back, never taken from an event)."""

    id: str
    customer_id: str
    status: str
    price_id: str
    current_period_end: datetime | None
    cancel_at_period_end: bool


class Gateway:
    """The Stripe calls Kith makes: customers, Checkout, Billing Portal, subscriptions."""

    def __init__(self, settings: Settings) -> None:
        if not settings.stripe_secret_key:
            raise ValueError("STRIPE_SECRET_KEY is not set")
        self._key = settings.stripe_secret_key
        self._api_base = settings.stripe_api_base

    def _client(self) -> stripe.StripeClient:
        addresses = {"api": self._api_base} if self._api_base else None
        return stripe.StripeClient(self._key, base_addresses=addresses, max_network_retries=2)

    def create_customer(self, *, email: str, member_id: int) -> str:
        """One customer per member: the idempotency key makes a double click create one."""
        params = {"email": email, "metadata": {"member_id": str(member_id)}}
        options = {"idempotency_key": f"kith-customer-{member_id}"}
        return self._call(lambda c: c.v1.customers.create(params=params, options=options)).id

    def checkout_url(
        self, *, customer_id: str, price_id: str, member_id: int, success_url: str, cancel_url: str
    ) -> str:
        params = {
            "mode": "subscription",
            "customer": customer_id,
            "line_items": [{"price": price_id, "quantity": 1}],
            "client_reference_id": str(member_id),
            "metadata": {"member_id": str(member_id)},
            "subscription_data": {"metadata": {"member_id": str(member_id)}},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        return self._call(lambda c: c.v1.checkout.sessions.create(params=params)).url

    def create_price(
        self, *, amount: int, currency: str, interval: str, product: str | None, name: str
    ) -> tuple[str, str]:
        """A recurring price; returns (price id, product id). The first one also creates the
        product. Made through the Plans API, which Stripe keeps compatible with Prices (a plan
        id is accepted wherever a price id is) and which localstripe serves too."""
        params: dict[str, Any] = {"amount": amount, "currency": currency, "interval": interval}
        params["product"] = product or {"name": name}
        options = {"idempotency_key": f"kith-price-{interval}-{currency}-{amount}-{product}"}
        created = self._call(lambda c: c.v1.plans.create(params=params, options=options))
        return created.id, created.product

    def portal_url(self, *, customer_id: str, return_url: str) -> str:
        params = {"customer": customer_id, "return_url": return_url}
        return self._call(lambda c: c.v1.billing_portal.sessions.create(params=params)).url

    def subscription(self, subscription_id: str) -> RemoteSubscription | None:
        """The subscription as Stripe has it now; None when Stripe does not know it."""
        found = self._retrieve(lambda c: c.v1.subscriptions.retrieve(subscription_id))
        return _subscription(found) if found is not None else None

    def customer_exists(self, customer_id: str) -> bool:
        """False for a customer Stripe deleted (it answers ``deleted: true`` or 404)."""
        customer = self._retrieve(lambda c: c.v1.customers.retrieve(customer_id))
        return customer is not None and not customer.get("deleted", False)

    def _retrieve(self, request: Callable[[stripe.StripeClient], Any]) -> dict[str, Any] | None:
        """An object as a plain dict, or None when Stripe answers 404."""
        try:
            return self._call(request).to_dict()
        except GatewayError as error:
            if getattr(error.__cause__, "http_status", None) == NOT_FOUND:
                return None
            raise

    def _call(self, request: Callable[[stripe.StripeClient], Any]) -> Any:
        """Run one request on a fresh client; any Stripe failure becomes a ``GatewayError``."""
        try:
            return request(self._client())
        except stripe.StripeError as error:
            raise GatewayError(str(error)) from error

    def __repr__(self) -> str:  # never show the key
        return f"Gateway(api_base={self._api_base!r})"


def for_app(app: Any) -> Gateway:
    """The app's gateway, made on first use (no network work happens at startup). Raises
    ``ValueError`` when no Stripe key is configured."""
    gateway = app.extensions.get("kith.payments")
    if gateway is None:
        gateway = app.extensions["kith.payments"] = Gateway(app.extensions["kith.settings"])
    return gateway


def verify_event(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """Check the signature on the raw body (before parsing it), then return the event.

    ``Webhook.construct_event`` checks ``t=…,v1=…`` (HMAC-SHA256 of ``t.body``) and the
    timestamp's age, which stops a captured event being replayed days later.
    """
    try:
        event = stripe.Webhook.construct_event(payload, signature or "", secret)
    except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError) as error:
        raise InvalidEvent(str(error) or "invalid event") from None
    data = json.loads(payload)
    body = data.get("data") if isinstance(data, dict) else None
    if not data.get("id") or not getattr(event, "type", None) or not isinstance(body, dict):
        raise InvalidEvent("not a Stripe event")
    if not isinstance(body.get("object"), dict):
        raise InvalidEvent("not a Stripe event")
    return data


def _subscription(data: dict[str, Any]) -> RemoteSubscription:
    """Read the fields Kith keeps, wherever this API version puts them.

    Newer Stripe API versions moved ``current_period_end`` and the price onto the items;
    older ones (and localstripe) keep them on the subscription and the item's plan.
    """
    items = (data.get("items") or {}).get("data") or [{}]
    item = items[0]
    period_end = data.get("current_period_end") or item.get("current_period_end")
    price = item.get("price") or item.get("plan") or {}
    customer = data.get("customer")
    return RemoteSubscription(
        id=data["id"],
        customer_id=customer["id"] if isinstance(customer, dict) else str(customer or ""),
        status=str(data.get("status") or ""),
        price_id=str(price.get("id") or ""),
        current_period_end=datetime.fromtimestamp(int(period_end), UTC) if period_end else None,
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
    )
