"""Audience over time: the daily rollup (``audience_days``) and the series the charts draw.

The rollup is rebuilt from what the database records, in set-based SQL: a handful of
GROUP BY queries yield, per day, how many members *entered or left* each tier and status
(deltas); Python then adds up those few thousand rows into daily figures. What is recorded:

- status: ``created_at`` (everyone starts pending), ``confirmed_at`` (active; imported and
  added members are active from creation), then ``unsubscribed_at``, ``last_bounced_at`` or
  the last complaint for members whose status now is unsubscribed, bounced or complained. A
  member who left and
  came back counts as active throughout (only the last departure is recorded).
- tier: the tier on creation, then ``tier_changes`` (written by members.tiers and the
  importer). Without recorded changes a member has had their current tier since joining.
- sign-ups by ``Member.source``; churn = unsubscribes (consent records) + paid memberships
  ending (tier changes away from paid); conversions = tier changes to paid.
- MRR: on each day, members on the paid tier times their Stripe subscription's price per
  month (``prices``: monthly as is, yearly ÷ 12), in the currency's smallest unit.

Deleted members leave no trace in the rollup (their history goes with them), except in the
unsubscribe counts, which come from the consent record that outlives them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Date, case, cast, delete, func, literal_column, select, true, union_all
from sqlalchemy.orm import Session

from app.db import bulk_insert, utcnow
from app.insights.models import AudienceDay, InsightRun, TierChange
from app.members.models import STATUSES, SUPPRESSED, TIERS, ConsentEvent, Member
from app.payments.models import Price, Subscription
from app.sending.models import Bounce

RANGES = (30, 90, 365)
ROLLUP_DAYS = 400  # what maintenance keeps fresh: the longest range, and a margin
STOCKS = ("tier", "status", "mrr")  # figures at the end of each day; the others count events
RUN = "audience"
UNPAID = ("incomplete", "incomplete_expired")  # Stripe subscriptions that never charged


def day_of(session: Session, column):
    """The UTC calendar day of a timestamp column, on either backend."""
    if session.connection().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# --- deltas -------------------------------------------------------------------------------

Deltas = dict[tuple[str, str], dict[date, float]]  # (measure, key) → day → change


def _status_deltas(session: Session, deltas: Deltas) -> None:
    m = Member
    joined = m.created_at
    active_from = case(
        (m.confirmed_at.is_not(None) & (m.confirmed_at > joined), m.confirmed_at), else_=joined
    )
    complained_at = (
        select(func.max(Bounce.received_at))
        .where(Bounce.member_id == m.id, Bounce.kind == "complaint")
        .scalar_subquery()
    )  # looked up only for complained members, the rare ones
    left = case(
        (m.status == "unsubscribed", func.coalesce(m.unsubscribed_at, active_from)),
        (m.status == "complained", func.coalesce(complained_at, m.last_bounced_at, active_from)),
        else_=func.coalesce(m.last_bounced_at, active_from),
    )
    left = case((left < active_from, active_from), else_=left)
    not_pending, suppressed = m.status != "pending", m.status.in_(SUPPRESSED)

    def grouped(moment, key: str | None, sign: int, condition):
        """Members entering (+1) or leaving (−1) status ``key`` (None: their own) per day."""
        day = day_of(session, moment)
        status = literal_column(f"'{key}'") if key else m.status
        by = (day,) if key else (day, m.status)
        return (
            select(day.label("day"), status.label("key"), (sign * func.count()).label("n"))
            .where(condition)
            .group_by(*by)
        )

    query = union_all(
        grouped(joined, "pending", 1, true()),
        grouped(active_from, "pending", -1, not_pending),
        grouped(active_from, "active", 1, not_pending),
        grouped(left, "active", -1, suppressed),
        grouped(left, None, 1, suppressed),
    )
    for day, key, n in session.execute(query):
        deltas[("status", key)][_as_date(day)] += n


def _monthly_amounts():
    """Per member, the monthly price of their Stripe subscription (the highest, if several)."""
    monthly = case((Price.plan == "yearly", Price.amount / 12.0), else_=Price.amount * 1.0)
    return (
        select(Subscription.member_id, func.max(monthly).label("amount"))
        .join(Price, Price.stripe_price_id == Subscription.price_id)
        .where(Subscription.status.not_in(UNPAID), Subscription.member_id.is_not(None))
        .group_by(Subscription.member_id)
        .subquery()
    )


def _tier_deltas(session: Session, deltas: Deltas) -> None:
    """Members start on their current tier, then each recorded change is undone before it
    happened: +from −to on the day they joined, −from +to on the day of the change."""
    amounts = _monthly_amounts()
    joined = day_of(session, Member.created_at)
    query = (
        select(joined, Member.tier, func.count(), func.coalesce(func.sum(amounts.c.amount), 0))
        .outerjoin(amounts, amounts.c.member_id == Member.id)
        .group_by(joined, Member.tier)
    )
    for day, tier, n, amount in session.execute(query):
        deltas[("tier", tier)][_as_date(day)] += n
        if tier == "paid":
            deltas[("mrr", "total")][_as_date(day)] += float(amount)
    changed = day_of(session, TierChange.changed_at)
    query = (
        select(
            joined,
            changed,
            TierChange.from_tier,
            TierChange.to_tier,
            func.count(),
            func.coalesce(func.sum(amounts.c.amount), 0),
        )
        .join(Member, Member.id == TierChange.member_id)
        .outerjoin(amounts, amounts.c.member_id == Member.id)
        .group_by(joined, changed, TierChange.from_tier, TierChange.to_tier)
    )
    for joined_day, changed_day, old, new, n, amount in session.execute(query):
        joined_day, changed_day = _as_date(joined_day), _as_date(changed_day)
        for tier, sign in ((old, 1), (new, -1)):
            deltas[("tier", tier)][joined_day] += sign * n
            deltas[("tier", tier)][changed_day] -= sign * n
            if tier == "paid":
                deltas[("mrr", "total")][joined_day] += sign * float(amount)
                deltas[("mrr", "total")][changed_day] -= sign * float(amount)
        if new == "paid":
            deltas[("conversions", "paid")][changed_day] += n
        if old == "paid":
            deltas[("churn", "cancelled")][changed_day] += n


def _event_deltas(session: Session, deltas: Deltas) -> None:
    joined = day_of(session, Member.created_at)
    for day, source, n in session.execute(
        select(joined, Member.source, func.count()).group_by(joined, Member.source)
    ):
        deltas[("signups", source)][_as_date(day)] += n
    left = day_of(session, ConsentEvent.created_at)
    for day, n in session.execute(
        select(left, func.count()).where(ConsentEvent.action == "unsubscribe").group_by(left)
    ):
        deltas[("churn", "unsubscribed")][_as_date(day)] += n


# --- the rollup ---------------------------------------------------------------------------


def rollup(session: Session, *, days: int = ROLLUP_DAYS, today: date | None = None) -> int:
    """Recompute the last ``days`` days (today included) into ``audience_days``; returns the
    number of rows written. Safe to run any time, by anyone: it replaces, never adds."""
    today = today or utcnow().date()
    start = today - timedelta(days=days - 1)
    deltas: Deltas = defaultdict(lambda: defaultdict(float))
    _status_deltas(session, deltas)
    _tier_deltas(session, deltas)
    _event_deltas(session, deltas)
    for tier in TIERS:
        deltas[("tier", tier)]  # every stock gets a line, even at zero
    for status in STATUSES:
        deltas[("status", status)]
    deltas[("mrr", "total")]
    rows = []
    for (measure, key), changes in sorted(deltas.items()):
        value = sum(n for day, n in changes.items() if day < start)
        for offset in range(days):
            day = start + timedelta(days=offset)
            change = changes.get(day, 0)
            value += change
            shown = value if measure in STOCKS else change
            if shown or measure in STOCKS:
                rows.append({"day": day, "measure": measure, "key": key, "value": round(shown)})
    session.execute(delete(AudienceDay).where(AudienceDay.day >= start, AudienceDay.day <= today))
    bulk_insert(session, AudienceDay.__table__, rows)
    _mark_run(session)
    return len(rows)


def _mark_run(session: Session) -> None:
    run = session.get(InsightRun, RUN)
    if run is None:
        session.add(InsightRun(name=RUN, ran_at=utcnow()))
    else:
        run.ran_at = utcnow()
    session.flush()


def last_rollup(session: Session) -> datetime | None:
    run = session.get(InsightRun, RUN)
    return run.ran_at if run is not None else None


# --- reading it back ----------------------------------------------------------------------


@dataclass
class Growth:
    """The series of the last ``days`` days: ``series[measure][key]`` is one value per day."""

    days: list[date]
    series: dict[str, dict[str, list[int]]]
    computed_at: datetime | None
    mrr_now: int
    currency: str

    def total(self, measure: str, key: str) -> int:
        return sum(self.series.get(measure, {}).get(key, []))


KEYS = {
    "tier": TIERS,
    "status": STATUSES,
    "signups": ("form", "import", "admin", "editor", "invite", "referral"),
    "churn": ("unsubscribed", "cancelled"),
    "conversions": ("paid",),
    "mrr": ("total",),
}


def growth(session: Session, days: int, *, today: date | None = None) -> Growth:
    today = today or utcnow().date()
    start = today - timedelta(days=days - 1)
    calendar = [start + timedelta(days=n) for n in range(days)]
    index = {day: n for n, day in enumerate(calendar)}
    series = {measure: {key: [0] * days for key in keys} for measure, keys in KEYS.items()}
    rows = session.execute(
        select(AudienceDay.day, AudienceDay.measure, AudienceDay.key, AudienceDay.value).where(
            AudienceDay.day >= start, AudienceDay.day <= today
        )
    )
    for day, measure, key, value in rows:
        keys = series.setdefault(measure, {})
        keys.setdefault(key, [0] * days)[index[_as_date(day)]] = value
    mrr_now, currency = current_mrr(session)
    return Growth(calendar, series, last_rollup(session), mrr_now, currency)


PAYING = ("active", "past_due")


def current_mrr(session: Session) -> tuple[int, str]:
    """Monthly recurring revenue now, from Stripe subscriptions that are active or past due
    (still being charged) and the prices they charge: (smallest currency units, currency)."""
    monthly = case((Price.plan == "yearly", Price.amount / 12.0), else_=Price.amount * 1.0)
    total = session.scalar(
        select(func.coalesce(func.sum(monthly), 0))
        .select_from(Subscription)
        .join(Price, Price.stripe_price_id == Subscription.price_id)
        .where(Subscription.status.in_(PAYING))
    )
    currency = session.scalar(select(Price.currency).order_by(Price.plan).limit(1)) or "usd"
    return round(float(total or 0)), currency
