"""Paid membership as Stripe reports it: subscriptions and the webhook events applied.

Money state comes only from Stripe (webhooks, or reading the subscription back from the API),
never from a redirect. ``StripeEvent`` makes every event take effect once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class Subscription(Base):
    """A member's Stripe subscription, as last read from Stripe."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    stripe_subscription_id: Mapped[str] = mapped_column(String(255), unique=True)
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(32))  # Stripe's: active, past_due, canceled…
    price_id: Mapped[str] = mapped_column(String(255), default="")
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_at_period_end: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StripeEvent(Base):
    """A webhook event applied (its id is Stripe's): a replay or a duplicate changes nothing."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Price(Base):
    """A plan's price as the editor set it in the admin, and the Stripe price that charges it.

    Stripe prices cannot change, so a new amount makes a new Stripe price; members already
    paying the old one keep it until they change plan in the Billing Portal.
    """

    __tablename__ = "prices"

    plan: Mapped[str] = mapped_column(String(16), primary_key=True)  # monthly | yearly
    amount: Mapped[int] = mapped_column(Integer)  # in the currency's smallest unit
    currency: Mapped[str] = mapped_column(String(3))
    stripe_price_id: Mapped[str] = mapped_column(String(255))
    stripe_product_id: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
