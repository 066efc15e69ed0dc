"""localstripe's side of bench/storm.py: the members' customers and subscriptions, the changes a
storm makes to them, and the events Stripe sends for each change.

Each change is made for real in localstripe (checkout, plan switch, a card that starts
failing, paying an open invoice, cancel at period end, cancel), one at a time, so the events
of a change are known. localstripe makes some events itself (subscription created and
deleted, invoice payments): those are read back from its ``/v1/events``. The ones it never
makes (Checkout's, ``customer.subscription.updated``, ``invoice.paid``) are built here as
Stripe builds them: the object as it stands just after the change, in an event envelope.
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import stripe

# Of the events localstripe makes itself, those a Kith endpoint is subscribed to.
FORWARDED = {
    "customer.subscription.created",
    "customer.subscription.deleted",
    "invoice.payment_succeeded",  # Kith ignores it (it reads invoice.paid): an "ignored" answer
    "invoice.payment_failed",
}
CARDS = {"good": "4242424242424242", "failing": "4000000000000341"}  # 0341: every charge fails
ENDED = ("none", "canceled", "incomplete_expired")


@dataclass
class Customer:
    """One member's Stripe customer, as the storm left it."""

    member_id: int
    id: str
    cards: dict[str, str]  # "good" / "failing" → source id
    subscriptions: list[str] = field(default_factory=list)  # oldest first
    status: str = "none"  # of the latest subscription
    cancel_at_period_end: bool = False
    checkout: dict[str, Any] | None = None  # a Checkout session completed unpaid
    announced: set[tuple[str, str]] = field(default_factory=set)  # (event type, invoice id)

    @property
    def current(self) -> str | None:
        return self.subscriptions[-1] if self.subscriptions else None


def envelope(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    """An event as Stripe sends it (``api_version`` as localstripe's own events carry)."""
    return {
        "id": f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2017-08-15",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
        "data": {"object": obj},
    }


class World:
    """The customers, and one change at a time to a random one's subscription."""

    def __init__(self, client: stripe.StripeClient, rng: random.Random) -> None:
        self.client = client
        self.rng = rng
        self.plans: dict[str, str] = {}
        self.customers: list[Customer] = []
        self.cursor: str | None = None  # the last localstripe event already taken
        self.follow_up: Customer | None = None

    def create_plans(self) -> dict[str, str]:
        product = self.client.v1.products.create(params={"name": "Kith membership"})
        for plan, interval, amount in (("monthly", "month", 500), ("yearly", "year", 5000)):
            params = {"amount": amount, "currency": "usd", "interval": interval}
            params |= {"product": product.id}
            self.plans[plan] = self.client.v1.plans.create(params=params).id
        return self.plans

    def add_customer(self, member_id: int, email: str) -> Customer:
        """A customer as Kith creates it before Checkout, holding a card that pays (the
        default) and one whose charges fail."""
        cards = {}
        for name, number in CARDS.items():
            card = {"number": number, "exp_month": 12, "exp_year": 2035, "cvc": "123"}
            cards[name] = self.client.v1.tokens.create(params={"card": card}).id
        params = {"email": email, "metadata": {"member_id": str(member_id)}}
        customer_id = self.client.v1.customers.create(params=params | {"source": cards["good"]}).id
        sources = self.client.v1.customers.payment_sources
        cards = {name: sources.create(customer_id, params={"source": token}).id
                 for name, token in cards.items()}  # fmt: skip
        customer = Customer(member_id, customer_id, cards)
        self._use_card(customer, "good")
        self.customers.append(customer)
        return customer

    def start(self) -> None:
        """From here on, only the events of the storm's own changes are taken."""
        self._localstripe_events()

    def step(self, *, single: bool = False) -> list[dict[str, Any]]:
        """One change, and its events in the order Stripe sends them. ``single``: a change
        with exactly one event (cancel at period end switched), to land on a total."""
        if single:
            live = [c for c in self.customers if c.status not in ENDED]
            if live:
                return self._toggle(self.rng.choice(live))
        customer, self.follow_up = self.follow_up or self.rng.choice(self.customers), None
        if self.rng.random() < 0.2:  # someone clicking on in the Billing Portal
            self.follow_up = customer
        return self._action(customer)(customer)

    def _action(self, customer: Customer):
        weights = {
            "none": {self._checkout: 1},
            "canceled": {self._checkout: 1},
            "incomplete_expired": {self._checkout: 1},
            "incomplete": {self._pay: 0.7, self._cancel: 0.3},
            "past_due": {self._pay: 0.6, self._cancel: 0.4},
            "active": {
                self._switch: 0.25,
                self._toggle: 0.3,
                self._card_fails: 0.15,
                self._cancel: 0.3,
            },  # fmt: skip
        }.get(customer.status, {self._cancel: 1})
        return self.rng.choices(list(weights), list(weights.values()))[0]

    # --- changes ------------------------------------------------------------------------

    def _checkout(self, customer: Customer) -> list[dict[str, Any]]:
        """Checkout as a subscription: one in six pays by a method that fails at first."""
        self._use_card(customer, "failing" if self.rng.random() < 1 / 6 else "good")
        plan = self.rng.choice(list(self.plans.values()))
        params = {"customer": customer.id, "items": [{"plan": plan}]}
        params["metadata"] = {"member_id": str(customer.member_id)}
        subscription = self.client.v1.subscriptions.create(params=params)
        customer.subscriptions.append(subscription.id)
        customer.cancel_at_period_end = False
        session = {
            "id": f"cs_test_{secrets.token_hex(12)}", "object": "checkout.session",
            "mode": "subscription", "status": "complete", "customer": customer.id,
            "subscription": subscription.id, "client_reference_id": str(customer.member_id),
            "metadata": {"member_id": str(customer.member_id)},
            "payment_status": "paid" if subscription.status == "active" else "unpaid",
        }  # fmt: skip
        customer.checkout = session if session["payment_status"] == "unpaid" else None
        return self._events(customer, updated=False) + [
            envelope("checkout.session.completed", session)
        ]

    def _pay(self, customer: Customer) -> list[dict[str, Any]]:
        """The member fixes their card and the open invoices are paid."""
        self._use_card(customer, "good")
        for invoice in self._invoices(customer):
            if invoice.status == "open":
                self.client.v1.invoices.pay(invoice.id)
        events = self._events(customer)
        if customer.checkout is not None and customer.status == "active":
            session = customer.checkout | {"payment_status": "paid"}
            events.append(envelope("checkout.session.async_payment_succeeded", session))
            customer.checkout = None
        return events

    def _switch(self, customer: Customer) -> list[dict[str, Any]]:
        """Monthly ↔ yearly: a new interval is invoiced at once (and charged)."""
        subscription = self.client.v1.subscriptions.retrieve(customer.current)
        item = subscription["items"].data[0]
        other = next(plan for plan in self.plans.values() if plan != item.plan.id)
        params = {"items": [{"id": item.id, "plan": other}]}
        self.client.v1.subscriptions.update(customer.current, params=params)
        return self._events(customer)

    def _card_fails(self, customer: Customer) -> list[dict[str, Any]]:
        """The card starts failing and the next charge (a plan switch) is declined: past_due."""
        self._use_card(customer, "failing")
        return self._switch(customer)

    def _toggle(self, customer: Customer) -> list[dict[str, Any]]:
        params = {"cancel_at_period_end": not customer.cancel_at_period_end}
        self.client.v1.subscriptions.update(customer.current, params=params)
        return self._events(customer)

    def _cancel(self, customer: Customer) -> list[dict[str, Any]]:
        self.client.v1.subscriptions.cancel(customer.current)
        return self._events(customer, updated=False)

    # --- the events of a change ---------------------------------------------------------

    def _events(self, customer: Customer, *, updated: bool = True) -> list[dict[str, Any]]:
        """localstripe's own events since the last change, then invoice.paid /
        payment_failed for invoices not announced yet, then the subscription updated."""
        events = self._localstripe_events()
        for event in events:
            obj = event["data"]["object"]
            if event["type"] == "invoice.payment_failed":
                customer.announced.add((event["type"], obj["id"]))
        for invoice in self._invoices(customer):
            kind = {"paid": "invoice.paid", "open": "invoice.payment_failed"}.get(invoice.status)
            if kind and (kind, invoice.id) not in customer.announced:
                customer.announced.add((kind, invoice.id))
                events.append(envelope(kind, invoice.to_dict()))
        subscription = self.client.v1.subscriptions.retrieve(customer.current)
        customer.status = subscription.status
        customer.cancel_at_period_end = bool(subscription.cancel_at_period_end)
        if updated:
            events.append(envelope("customer.subscription.updated", subscription.to_dict()))
        return events

    def _localstripe_events(self) -> list[dict[str, Any]]:
        """The events localstripe made since the last call, of the types forwarded."""
        found = []
        while True:
            params: dict[str, Any] = {"limit": 100}
            if self.cursor:
                params["starting_after"] = self.cursor
            page = self.client.v1.events.list(params=params)
            for event in page.data:
                self.cursor = event.id
                if event.type in FORWARDED:
                    found.append(event.to_dict())
            if not page.has_more:
                return found

    def _invoices(self, customer: Customer) -> list:
        params = {"subscription": customer.current, "limit": 100}
        return self.client.v1.invoices.list(params=params).data

    def _use_card(self, customer: Customer, name: str) -> None:
        params = {"default_source": customer.cards[name]}
        self.client.v1.customers.update(customer.id, params=params)
