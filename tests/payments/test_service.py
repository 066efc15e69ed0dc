"""The access rule and the lapsed-grace sweep."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from app.db import utcnow
from app.payments import prices, service
from app.payments.models import Subscription
from tests.conftest import make_member

NOW = utcnow()
DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("status", "period_end", "paid"),
    [
        ("active", NOW + 30 * DAY, True),
        ("trialing", NOW + 3 * DAY, True),
        ("past_due", NOW - DAY, True),  # within the 7-day grace
        ("past_due", NOW - 8 * DAY, False),  # grace over
        ("past_due", None, False),
        ("canceled", NOW + 30 * DAY, False),
        ("unpaid", NOW + 30 * DAY, False),
        ("incomplete_expired", None, False),
        ("incomplete", None, False),
    ],
)
def test_grants_access(status, period_end, paid):
    assert service.grants_access(status, period_end, NOW) is paid


def test_expire_lapsed_ends_access_after_grace(session):
    member = make_member(session, tier="paid")
    session.add(
        Subscription(
            stripe_subscription_id="sub_lapsing",
            member_id=member.id,
            status="past_due",
            current_period_end=NOW - 3 * DAY,
        )
    )
    session.commit()
    assert service.expire_lapsed(session, now=NOW) == 0
    assert member.tier == "paid"
    assert service.expire_lapsed(session, now=NOW + 5 * DAY) == 1
    assert member.tier == "free"


def test_plans_are_on_sale_with_a_key_and_a_price(app, session):
    settings = app.extensions["kith.settings"]
    assert [offer.plan for offer in prices.offers(session, settings)] == ["monthly", "yearly"]
    assert not prices.offers(session, dataclasses.replace(settings, stripe_secret_key=None))
    no_prices = dataclasses.replace(settings, stripe_price_monthly=None, stripe_price_yearly=None)
    assert not prices.offers(session, no_prices)
    only_yearly = dataclasses.replace(settings, stripe_price_monthly=None)
    assert [offer.label for offer in prices.offers(session, only_yearly)] == ["Yearly"]
