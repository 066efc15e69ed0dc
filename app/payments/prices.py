"""What paid membership costs: the plans on offer and their Stripe prices.

The editor sets the amounts in the admin; Kith creates the Stripe prices. Without prices set
there, ``STRIPE_PRICE_MONTHLY``/``STRIPE_PRICE_YEARLY`` (prices made in Stripe's dashboard)
are used. Every surface that offers a plan asks ``offers`` so none shows a plan that cannot be
bought.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import utcnow
from app.payments.gateway import Gateway
from app.payments.models import Price

PLANS = ("monthly", "yearly")
INTERVALS = {"monthly": "month", "yearly": "year"}
CURRENCIES = ("usd", "eur", "gbp", "cad", "aud", "nzd", "chf", "sek", "nok", "dkk", "jpy")
ZERO_DECIMAL = {"jpy"}  # Stripe counts these in whole units
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$", "nzd": "NZ$", "jpy": "¥"}


@dataclass(frozen=True)
class Offer:
    """One plan a reader can buy: the Stripe price, and what it costs when Kith knows."""

    plan: str
    price_id: str
    amount: int | None = None  # smallest currency unit; None for a price set only in Stripe
    currency: str = ""

    @property
    def label(self) -> str:
        """What a button says: "Monthly · $5.00", or "Monthly" when the amount is unknown."""
        name = self.plan.capitalize()
        if self.amount is None:
            return name
        return f"{name} · {format_amount(self.amount, self.currency)}"


def format_amount(amount: int, currency: str) -> str:
    value = Decimal(amount) if currency in ZERO_DECIMAL else Decimal(amount) / 100
    shown = f"{value:,.0f}" if currency in ZERO_DECIMAL else f"{value:,.2f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{shown}" if symbol else f"{shown} {currency.upper()}"


def to_minor_units(value: Decimal, currency: str) -> int:
    return int(value if currency in ZERO_DECIMAL else (value * 100).to_integral_value())


def offers(session: Session, settings: Settings) -> list[Offer]:
    """The plans on sale, monthly first; empty when the paid tier is off."""
    if not settings.stripe_secret_key:
        return []
    set_here = current(session)
    if set_here:
        return [
            Offer(plan, price.stripe_price_id, price.amount, price.currency)
            for plan in PLANS
            if (price := set_here.get(plan)) is not None
        ]
    from_environment = {
        "monthly": settings.stripe_price_monthly,
        "yearly": settings.stripe_price_yearly,
    }
    return [Offer(plan, price) for plan, price in from_environment.items() if price]


def offer(session: Session, settings: Settings, plan: str) -> Offer | None:
    return next((found for found in offers(session, settings) if found.plan == plan), None)


@dataclass(frozen=True)
class SetPrice:
    """A plan's price as stored here: what it costs and the Stripe price that charges it."""

    amount: int
    currency: str
    stripe_price_id: str
    stripe_product_id: str


def current(session: Session) -> dict[str, SetPrice]:
    return {
        row.plan: SetPrice(row.amount, row.currency, row.stripe_price_id, row.stripe_product_id)
        for row in session.scalars(select(Price))
    }


def make_stripe_prices(
    gateway: Gateway,
    now_on_sale: dict[str, SetPrice],
    *,
    amounts: dict[str, int | None],
    currency: str,
    publication_name: str,
) -> dict[str, SetPrice | None]:
    """The prices to store for the editor's amounts, creating Stripe prices where needed.

    A plan left empty (None) stops being offered; an unchanged amount keeps its Stripe price;
    a changed one gets a new Stripe price (Stripe's are fixed; members on the old one keep
    it). Raises ``GatewayError`` when Stripe refuses, before anything is stored. Called
    outside any database transaction: Stripe may take seconds to answer.
    """
    product = next((found.stripe_product_id for found in now_on_sale.values()), None)
    chosen: dict[str, SetPrice | None] = {}
    for plan in PLANS:
        amount, existing = amounts.get(plan), now_on_sale.get(plan)
        if amount is None:
            chosen[plan] = None
        elif existing is not None and (existing.amount, existing.currency) == (amount, currency):
            chosen[plan] = existing
        else:
            price_id, product = gateway.create_price(
                amount=amount,
                currency=currency,
                interval=INTERVALS[plan],
                product=product,
                name=f"{publication_name or 'Kith'} membership",
            )
            chosen[plan] = SetPrice(amount, currency, price_id, product)
    return chosen


def store(session: Session, chosen: dict[str, SetPrice | None]) -> None:
    """Put the chosen prices on sale (and take the plans left empty off sale)."""
    session.execute(delete(Price))
    for plan, price in chosen.items():
        if price is not None:
            session.add(
                Price(
                    plan=plan,
                    amount=price.amount,
                    currency=price.currency,
                    stripe_price_id=price.stripe_price_id,
                    stripe_product_id=price.stripe_product_id,
                    updated_at=utcnow(),
                )
            )
    session.flush()
