"""The rules of paid membership: checkout, billing, and applying Stripe's webhook events.

Access follows Stripe's subscription as read back from the API when an event arrives, never the
event's own copy (events come late, twice and out of order) and never a redirect. Tiers change
only through ``members.tiers``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import webhooks
from app.config import Settings
from app.db import utcnow
from app.members import tiers
from app.members.models import Member
from app.payments import prices
from app.payments.gateway import Gateway, RemoteSubscription
from app.payments.models import StripeEvent, Subscription
from app.webhooks import payloads

GRACE = timedelta(days=7)  # a failed renewal keeps access this long past the period's end
PAID_STATUSES = {"active", "trialing"}


class PaymentsUnavailable(Exception):
    """The paid tier is off: no Stripe key (or no price for the plan) is configured."""


class UnknownPlan(ValueError):
    pass


class NoCustomer(Exception):
    """Billing was asked for a member who never started a paid membership."""


def start_checkout(
    session: Session, gateway: Gateway, settings: Settings, member: Member, plan: str
) -> str:
    """The Stripe Checkout URL for ``plan``; the member's customer is created once and reused."""
    if plan not in prices.PLANS:
        raise UnknownPlan(f"Choose a monthly or yearly plan, not {plan!r}.")
    offer = prices.offer(session, settings, plan)
    if offer is None:
        raise PaymentsUnavailable("Paid membership is not available.")
    return gateway.checkout_url(
        customer_id=ensure_customer(session, gateway, member),
        price_id=offer.price_id,
        member_id=member.id,
        success_url=settings.url("/account/upgrade/return"),
        cancel_url=settings.url("/account"),
    )


def ensure_customer(session: Session, gateway: Gateway, member: Member) -> str:
    """The member's Stripe customer id, creating the customer the first time only."""
    if member.stripe_customer_id:
        return member.stripe_customer_id
    member.stripe_customer_id = gateway.create_customer(email=member.email, member_id=member.id)
    session.flush()
    return member.stripe_customer_id


def billing_portal(settings: Settings, gateway: Gateway, member: Member) -> str:
    if not settings.stripe_secret_key:
        raise PaymentsUnavailable("Paid membership is not available.")
    if not member.stripe_customer_id:
        raise NoCustomer("You have no paid membership to manage yet.")
    return gateway.portal_url(
        customer_id=member.stripe_customer_id, return_url=settings.url("/account")
    )


# --- webhooks -------------------------------------------------------------------------------


def apply_event(
    session: Session, gateway: Gateway, event: dict[str, Any], *, now: datetime | None = None
) -> str:
    """Apply one verified event once; returns ``applied``, ``duplicate`` or ``ignored``.

    The event id is inserted in the same transaction as the effect, so a crash leaves neither;
    a concurrent duplicate waits on the primary key and then fails with ``IntegrityError``,
    which the caller answers as a duplicate too. The member is locked before Stripe is read:
    otherwise a slow read, overtaken by a later change and its event, is written last.
    """
    handler = HANDLERS.get(event["type"])
    if handler is None:
        return "ignored"
    if session.get(StripeEvent, event["id"]) is not None:
        return "duplicate"
    session.add(StripeEvent(id=event["id"], type=event["type"]))
    session.flush()
    obj = event["data"]["object"]
    _member_by_customer(session, _customer_of(obj))
    handler(session, gateway, obj, now or utcnow())
    return "applied"


def _customer_of(obj: dict) -> str | None:
    """The customer an event's object belongs to: only who to lock, never what to grant (a
    subscription's or an invoice's customer never changes)."""
    customer = obj.get("id") if obj.get("object") == "customer" else obj.get("customer")
    if isinstance(customer, dict):  # expanded
        customer = customer.get("id")
    return customer if isinstance(customer, str) else None


def is_duplicate(error: IntegrityError) -> bool:
    """The event row lost a race with the same event delivered at the same time."""
    return "stripe_events" in str(error.orig) or "pk_stripe_events" in str(error.orig)


def _checkout_completed(session: Session, gateway: Gateway, obj: dict, now: datetime) -> None:
    # An asynchronous payment (bank debit) completes the session before the money arrives.
    if obj.get("payment_status") not in ("paid", "no_payment_required"):
        return
    member = _member_by_reference(session, obj)
    customer_id = obj.get("customer")
    if member is not None and customer_id and not member.stripe_customer_id:
        member.stripe_customer_id = customer_id
        session.flush()
    if subscription_id := obj.get("subscription"):
        sync_subscription(session, gateway, subscription_id, now=now)


def _subscription_changed(session: Session, gateway: Gateway, obj: dict, now: datetime) -> None:
    sync_subscription(session, gateway, obj["id"], now=now)


def _invoice_event(session: Session, gateway: Gateway, obj: dict, now: datetime) -> None:
    # Older API versions name the subscription on the invoice, newer ones under ``parent``.
    parent = (obj.get("parent") or {}).get("subscription_details") or {}
    if subscription_id := obj.get("subscription") or parent.get("subscription"):
        sync_subscription(session, gateway, subscription_id, now=now)


def _customer_deleted(session: Session, gateway: Gateway, obj: dict, now: datetime) -> None:
    """Deleting a customer cancels their subscriptions in Stripe: access ends here too."""
    member = _member_by_customer(session, obj["id"])
    if member is None:
        return
    changed = []
    for subscription in _subscriptions_of(session, member):
        if subscription.status != "canceled":
            changed.append((subscription, subscription.status))
        subscription.status = "canceled"
        subscription.updated_at = now
    member.stripe_customer_id = None
    tiers.paid_ended(session, member)
    for row, was in changed:
        _payment_updated(session, row, member, was)


HANDLERS: dict[str, Callable[[Session, Gateway, dict, datetime], None]] = {
    "checkout.session.completed": _checkout_completed,
    # A bank debit completes the session unpaid; this event says the money came (days later).
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
    "invoice.paid": _invoice_event,
    "invoice.payment_failed": _invoice_event,
    "customer.deleted": _customer_deleted,
}


def sync_subscription(
    session: Session, gateway: Gateway, subscription_id: str, *, now: datetime
) -> Subscription | None:
    """Copy Stripe's current subscription into Kith and set the member's access from it."""
    remote = gateway.subscription(subscription_id)
    if remote is None:
        return None
    member = _member_by_customer(session, remote.customer_id)
    row = session.scalar(
        select(Subscription).where(Subscription.stripe_subscription_id == remote.id)
    )
    if row is None:
        row = Subscription(stripe_subscription_id=remote.id)
        session.add(row)
    before = _state(row)
    _copy(row, remote, now)
    if member is not None:
        row.member_id = member.id
    session.flush()
    if member is not None:
        update_access(session, member, now=now)
    if _state(row) != before:
        _payment_updated(session, row, member, before[0])
    return row


def _state(row: Subscription) -> tuple:
    """What a ``payment.updated`` event reports a change of (status first)."""
    return (row.status, row.price_id, row.current_period_end, row.cancel_at_period_end)


def _payment_updated(
    session: Session, row: Subscription, member: Member | None, was: str | None
) -> None:
    payload = payloads.subscription(row, member, previous_status=was)
    webhooks.emit(session, "payment.updated", payload)


def _copy(row: Subscription, remote: RemoteSubscription, now: datetime) -> None:
    row.status = remote.status
    row.price_id = remote.price_id
    row.current_period_end = remote.current_period_end
    row.cancel_at_period_end = remote.cancel_at_period_end
    row.updated_at = now


def grants_access(status: str, current_period_end: datetime | None, now: datetime) -> bool:
    """Active and trialing pay; past_due keeps access for a grace week after the period."""
    if status in PAID_STATUSES:
        return True
    if status == "past_due" and current_period_end is not None:
        return now < current_period_end + GRACE
    return False  # canceled, unpaid, incomplete, incomplete_expired, paused…


def update_access(session: Session, member: Member, *, now: datetime) -> None:
    """Paid while any of the member's subscriptions grants access; otherwise it ends."""
    if any(
        grants_access(row.status, row.current_period_end, now)
        for row in _subscriptions_of(session, member)
    ):
        tiers.paid_started(session, member)
    else:
        tiers.paid_ended(session, member)


def expire_lapsed(session: Session, *, now: datetime | None = None) -> int:
    """End access of members whose past_due grace ran out with no event from Stripe since.

    Meant for a periodic job; returns how many members lost paid access.
    """
    now = now or utcnow()
    rows = session.scalars(
        select(Subscription).where(
            Subscription.status == "past_due",
            Subscription.current_period_end < now - GRACE,
            Subscription.member_id.is_not(None),
        )
    ).all()
    ended = 0
    for member_id in {row.member_id for row in rows}:
        member = session.get(Member, member_id)
        was_paid = member.tier == "paid"
        update_access(session, member, now=now)
        if was_paid and member.tier != "paid":
            ended += 1
    return ended


def access_status(member: Member) -> dict[str, Any]:
    """What the "confirming…" page polls: has the webhook given this member access yet?"""
    return {"tier": member.tier, "paid": member.tier == "paid"}


def _subscriptions_of(session: Session, member: Member) -> list[Subscription]:
    return list(session.scalars(select(Subscription).where(Subscription.member_id == member.id)))


def _member_by_customer(session: Session, customer_id: str | None) -> Member | None:
    if not customer_id:
        return None
    return session.scalar(
        select(Member).where(Member.stripe_customer_id == customer_id).with_for_update()
    )


def _member_by_reference(session: Session, obj: dict) -> Member | None:
    """The member a Checkout session was started for (we set both fields when creating it)."""
    reference = obj.get("client_reference_id") or (obj.get("metadata") or {}).get("member_id")
    if not reference or not str(reference).isdigit():
        return None
    return session.get(Member, int(reference), with_for_update=True)
