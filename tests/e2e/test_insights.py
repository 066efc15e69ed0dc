"""The audience growth dashboard in Chromium: the charts render, on a desktop and on a phone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from app.db import transaction
from app.insights.models import TierChange
from app.members import service as members
from app.members import tokens
from app.members.models import ConsentEvent, Member
from app.payments.models import Price, Subscription

pytestmark = pytest.mark.browser
SOURCES = ("form", "form", "import", "invite", "referral")


def seed(app) -> str:
    """Ninety days of a small publication's life, and a sign-in link for its editor."""
    now = datetime.now(UTC)
    with app.app_context(), transaction() as session:
        session.add(
            Price(plan="monthly", amount=700, currency="eur", stripe_price_id="price_m",
                  stripe_product_id="prod")
        )  # fmt: skip
        for n in range(120):
            joined = now - timedelta(days=90 - n * 0.75, hours=n % 5)
            left = n % 9 == 0
            member = Member(
                email=f"reader{n}@example.com", fields={}, source=SOURCES[n % 5],
                status="unsubscribed" if left else "active", created_at=joined,
                confirmed_at=joined + timedelta(hours=2),
                unsubscribed_at=joined + timedelta(days=5) if left else None,
                tier="paid" if n % 4 == 0 else "free",
            )  # fmt: skip
            session.add(member)
            session.flush()
            if left:
                session.add(
                    ConsentEvent(member_id=member.id, email_hash=tokens.email_hash(member.email),
                                 action="unsubscribe", created_at=member.unsubscribed_at)
                )  # fmt: skip
            if member.tier == "paid":
                session.add(
                    TierChange(member_id=member.id, from_tier="free", to_tier="paid",
                               changed_at=joined + timedelta(days=3))
                )  # fmt: skip
                session.add(
                    Subscription(stripe_subscription_id=f"sub_{n}", member_id=member.id,
                                 status="active", price_id="price_m")
                )  # fmt: skip
        editor = members.create_editor(session, "chief@example.com")
        token = members.start_login(session, editor)
        signed = members.sign_login_token(app.extensions["kith.settings"], token)
    return f"/login/{signed}"


def test_the_growth_dashboard_renders_its_charts(live_app, page, tmp_path):
    base, app = live_app
    page.goto(base + seed(app))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/issues$"))

    page.get_by_role("link", name="Growth").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audience growth")
    page.get_by_role("link", name="90 days").click()
    expect(page).to_have_url(re.compile(r"days=90$"))
    charts = page.locator("figure.chart svg.chart-svg")
    expect(charts).to_have_count(5)
    for index in range(5):
        box = charts.nth(index).bounding_box()
        assert box and box["width"] > 300 and box["height"] > 150
    expect(page.get_by_role("img", name="Members by tier")).to_be_visible()
    expect(page.get_by_role("img", name="Monthly recurring revenue (EUR)")).to_be_visible()
    lines = page.locator("#tiers polyline")
    expect(lines).to_have_count(3)
    assert len(lines.first.get_attribute("points").split()) == 90
    expect(page.locator("#signups rect").first).to_be_visible()
    page.screenshot(path=str(tmp_path / "growth-desktop.png"), full_page=True)
    assert (tmp_path / "growth-desktop.png").stat().st_size > 10_000

    page.get_by_text("The numbers, day by day").click()
    expect(page.locator(".numbers-table tbody tr")).to_have_count(90)

    page.set_viewport_size({"width": 375, "height": 812})
    page.reload()
    first = charts.first.bounding_box()
    assert first and first["width"] <= 375
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 375, f"the page scrolls sideways on a phone ({scroll_width}px)"
    page.screenshot(path=str(tmp_path / "growth-phone.png"), full_page=True)
