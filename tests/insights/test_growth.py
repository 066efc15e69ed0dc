"""Audience growth: the daily rollup on a small fixed history, its charts (well-formed,
accessible SVG), its table and CSV."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.insights import charts, growth
from app.insights.models import AudienceDay, TierChange
from app.members import tiers, tokens
from app.members.models import ConsentEvent, Member
from app.payments.models import Price, Subscription
from app.sending.models import Bounce
from tests.conftest import csrf_token, sign_in

TODAY = date(2026, 6, 10)
SVG = "{http://www.w3.org/2000/svg}"


def member(session, email, **values) -> Member:
    row = Member(email=email, fields={}, **values)
    session.add(row)
    session.flush()
    return row


# Seven members whose lives over ten days are known exactly:
# email, status now, tier now, joined, confirmed, left (unsubscribed or bounced), source,
# (a tier change: from, to, on), (a Stripe subscription: status, price).
HISTORY = [
    # Before the range: active, free.
    ("m1", "active", "free", "05-20", "05-20", None, "form", None, None),
    # Signs up on the 2nd (pending), confirms the 3rd, pays monthly from the 5th.
    ("m2", "active", "paid", "06-02", "06-03", None, "form", ("free", "paid", "06-05"),
     ("active", "price_m")),
    # Imported on the 3rd, never confirmed.
    ("m3", "pending", "free", "06-03", None, None, "import", None, None),
    # Active since May, unsubscribes on the 6th, just before midnight UTC.
    ("m4", "unsubscribed", "free", "05-25", "05-25", "06-06T23", "import", None, None),
    # Invited on the 4th, bounces on the 8th.
    ("m5", "bounced", "invite", "06-04", "06-04", "06-08", "invite", None, None),
    # Paid yearly since May; the membership ends on the 7th.
    ("m6", "active", "free", "05-01", "05-01", None, "referral", ("paid", "free", "06-07"),
     ("canceled", "price_y")),
    # Active since May, marks an issue as spam on the 9th.
    ("m7", "complained", "free", "05-01", "05-01", "06-09", "form", None, None),
]  # fmt: skip


def at(day: str | None) -> datetime | None:
    if day is None:
        return None
    day, _, hour = day.partition("T")
    return datetime.fromisoformat(f"2026-{day}T{hour or '09'}:00:00+00:00")


@pytest.fixture
def history(session):
    for plan, amount in (("monthly", 500), ("yearly", 1200)):
        session.add(
            Price(plan=plan, amount=amount, currency="eur", stripe_price_id=f"price_{plan[0]}",
                  stripe_product_id="prod")
        )  # fmt: skip
    for name, status, tier, joined, confirmed, left, source, change, paying in HISTORY:
        row = member(
            session, f"{name}@example.com", status=status, tier=tier, created_at=at(joined),
            confirmed_at=at(confirmed), source=source,
            unsubscribed_at=at(left) if status == "unsubscribed" else None,
            last_bounced_at=at(left) if status == "bounced" else None,
        )  # fmt: skip
        if status == "unsubscribed":
            session.add(
                ConsentEvent(member_id=row.id, email_hash=tokens.email_hash(row.email),
                             action="unsubscribe", created_at=at(left))
            )  # fmt: skip
        if status == "complained":
            session.add(Bounce(member_id=row.id, kind="complaint", received_at=at(left)))
        if change:
            old, new, day = change
            session.add(
                TierChange(member_id=row.id, from_tier=old, to_tier=new, changed_at=at(day))
            )
        if paying:
            session.add(
                Subscription(stripe_subscription_id=f"sub_{name}", member_id=row.id,
                             status=paying[0], price_id=paying[1])
            )  # fmt: skip
    session.commit()


def by_day(values: list[int]) -> dict[int, int]:
    """{day of June: value} for the ten days 1–10 June."""
    return {n + 1: value for n, value in enumerate(values)}


def test_the_rollup_rebuilds_each_day_from_the_history(session, history):
    growth.rollup(session, days=10, today=TODAY)
    session.commit()
    data = growth.growth(session, 10, today=TODAY)
    assert data.days[0] == date(2026, 6, 1) and data.days[-1] == TODAY
    status, tier = data.series["status"], data.series["tier"]
    # Figures are at the end of each UTC day: m4 left at 23:00 on the 6th.
    assert status["active"] == [4, 4, 5, 6, 6, 5, 5, 4, 3, 3]
    assert status["pending"] == [0, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert status["unsubscribed"] == [0] * 5 + [1] * 5
    assert status["bounced"] == [0] * 7 + [1, 1, 1]
    assert status["complained"] == [0] * 8 + [1, 1]
    assert tier["free"] == [3, 4, 5, 5, 4, 4, 5, 5, 5, 5]
    assert tier["paid"] == [1, 1, 1, 1, 2, 2, 1, 1, 1, 1]
    assert tier["invite"] == [0, 0, 0, 1, 1, 1, 1, 1, 1, 1]
    # Every member is counted once a day in each breakdown.
    for n in range(10):
        assert sum(v[n] for v in status.values()) == sum(v[n] for v in tier.values())
    assert data.series["mrr"]["total"] == [100] * 4 + [600, 600] + [500] * 4
    assert by_day(data.series["signups"]["form"]) == {**dict.fromkeys(range(1, 11), 0), 2: 1}
    assert data.total("signups", "import") == 1 and data.total("signups", "invite") == 1
    assert data.total("signups", "referral") == 0  # m6 joined before the range
    assert by_day(data.series["churn"]["unsubscribed"])[6] == 1
    assert by_day(data.series["churn"]["cancelled"])[7] == 1
    assert by_day(data.series["conversions"]["paid"])[5] == 1
    assert data.total("churn", "unsubscribed") == 1 and data.total("conversions", "paid") == 1
    # Now, from Stripe: only the active monthly subscription is charged.
    assert (data.mrr_now, data.currency) == (500, "eur")


def test_a_rollup_replaces_its_days_and_keeps_older_ones(session, history):
    growth.rollup(session, days=10, today=TODAY)
    growth.rollup(session, days=3, today=TODAY)  # the maintenance task's short run, again
    session.commit()
    days = session.scalar(select(func.count(func.distinct(AudienceDay.day))))
    assert days == 10
    data = growth.growth(session, 10, today=TODAY)
    assert data.series["status"]["active"] == [4, 4, 5, 6, 6, 5, 5, 4, 3, 3]


def test_tier_changes_are_recorded_where_tiers_change(session):
    reader = member(session, "r@example.com", status="active")
    tiers.paid_started(session, reader)
    tiers.paid_ended(session, reader)
    tiers.set_by_editor(session, reader, "invite")
    tiers.set_by_editor(session, reader, "invite")  # no change, no record
    changes = session.scalars(select(TierChange).order_by(TierChange.id)).all()
    assert [(c.from_tier, c.to_tier) for c in changes] == [
        ("free", "paid"),
        ("paid", "free"),
        ("free", "invite"),
    ]


def test_an_import_that_changes_a_tier_records_it(app, session, tmp_path):
    member(session, "imp@example.com", status="active")
    session.commit()
    path = tmp_path / "members.csv"
    path.write_text("email,tier\nimp@example.com,paid\n")
    result = app.test_cli_runner().invoke(args=["members", "import", str(path)])
    assert result.exit_code == 0, result.output
    change = session.scalars(select(TierChange)).one()
    assert (change.from_tier, change.to_tier) == ("free", "paid")


def parse_svgs(html: str) -> list[ET.Element]:
    found = re.findall(r"<svg xmlns=.*?</svg>", html, flags=re.S)
    return [ET.fromstring(svg) for svg in found]


def test_the_dashboard_draws_accessible_charts_with_the_numbers(client, session, editor):
    for n in range(5):
        member(
            session,
            f"new{n}@example.com",
            status="active",
            created_at=datetime.now(UTC) - timedelta(days=n),
            source="form",
        )
    session.commit()
    sign_in(client, editor)
    response = client.get("/admin/audience/growth?days=30")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    svgs = parse_svgs(page)
    assert len(svgs) == 5  # tiers, statuses, sign-ups, churn and conversions, MRR
    for svg in svgs:
        assert svg.get("role") == "img"
        title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
        assert title is not None and title.text and desc is not None and desc.text
        assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    signups = next(svg for svg in svgs if svg.find(f"{SVG}title").text == "Sign-ups by source")
    described = signups.find(f"{SVG}desc").text
    assert "One bar per day" in described and "Form: 6 in all" in described  # and the editor
    assert len(signups.findall(f".//{SVG}rect")) == 5  # a bar for each day with sign-ups
    assert "The numbers, day by day" in page and page.count("<tr>") >= 30
    assert 'aria-current="page">30 days' in page


def test_the_growth_csv_has_a_row_per_day(client, session, editor):
    sign_in(client, editor)
    response = client.get("/admin/audience/growth.csv?days=30")
    assert response.status_code == 200
    assert "audience-growth-30d.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:4] == ["day", "tier_free", "tier_paid", "tier_invite"]
    assert "mrr_total" in rows[0] and "churn_unsubscribed" in rows[0]
    assert len(rows) == 31
    assert rows[-1][0] == datetime.now(UTC).date().isoformat()
    assert rows[-1][1] == "1"  # the editor, free, joined today


@pytest.mark.parametrize("days", ["7", "abc", "-30", "1e3", "30.0", ""])
def test_an_unknown_range_is_a_clear_400(client, editor, days):
    sign_in(client, editor)
    response = client.get(f"/admin/audience/growth?days={days}")
    assert response.status_code == 400
    assert "Choose a range of 30, 90 or 365 days." in response.get_data(as_text=True)
    assert client.get(f"/admin/audience/growth.csv?days={days}").status_code == 400


def test_recompute_now(client, session, editor):
    sign_in(client, editor)
    client.get("/admin/audience/growth")  # the first visit backfills
    first = growth.last_rollup(session)
    assert first is not None
    member(session, "late@example.com", status="active")
    session.commit()
    token = csrf_token(client, "/admin/audience/growth")
    response = client.post("/admin/audience/growth/refresh?days=90", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("days=90")
    session.expire_all()
    assert growth.last_rollup(session) >= first
    assert growth.growth(session, 30).series["status"]["active"][-1] == 2


def test_charts_escape_names_and_stay_well_formed():
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(400)]
    weird = charts.Series("<b>\"&amp;'", [n % 7 for n in range(400)])
    for svg in (
        charts.line_chart("c1", "A <title> & more", "Desc & co", days, [weird]),
        charts.bar_chart("c2", "Bars", "Desc", days, [weird, weird]),
        charts.line_chart("c3", "Money", "MRR", days[:1], [charts.Series("MRR", [0])], unit="EUR"),
        charts.bar_chart("c4", "Nothing", "Desc", days[:3], []),
    ):
        root = ET.fromstring(str(svg))
        assert root.find(f"{SVG}title").text
    bars = ET.fromstring(str(charts.bar_chart("c5", "Weeks", "Desc", days, [weird])))
    assert "One bar per week" in bars.find(f"{SVG}desc").text
    legend = ET.fromstring(str(charts.legend([weird])))
    assert legend.find("li").itertext() and "<b>" in "".join(legend.find("li").itertext())
