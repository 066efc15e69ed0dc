"""A storm of signed Stripe webhook events while a send runs (reliability scenario L4).

Kith runs under gunicorn on loopback with PostgreSQL and Redis, reading subscriptions back
from a real localstripe. ``--members`` members each have a Stripe customer, created the way
Kith creates one before Checkout (bench/stripe_world.py). During the storm their
subscriptions change for real in localstripe (checkout, plan switch, a card that starts
failing, paying, cancel at period end, cancel), and the events Stripe sends for each change
are delivered to ``/webhooks/stripe``, signed with Kith's webhook secret by Stripe's scheme,
from ``--clients`` threads: ``--events`` deliveries within ``--seconds``, of which 10 % are
duplicates (half at the same moment as the first delivery, half up to 5 s later) and about
10 % are held back 1–4 s so that later events of the same subscription overtake them.
A non-2xx answer is delivered again after the storm, as Stripe retries. Meanwhile (unless
``--with-send 0``) two ``kith worker`` processes send an issue to that many members through
Postfix's smtp-sink, as in bench/load.py (L1).
Checks: non-2xx answers; p99 and max latency; every member's tier and every subscription in
Kith against localstripe's subscription; the events Kith recorded against the distinct ones
sent; deadlocks counted in ``pg_stat_database`` for the bench database, before and after.
Targets: all 2xx, max latency < 5 s, entitlements equal Stripe's, 0 deadlocks.
Run: .venv/bin/python bench/storm.py [--events 1000] [--seconds 60] [--members 100]
[--clients 8] [--with-send 20000]; exits non-zero only when the set-up fails.
"""

from __future__ import annotations

import argparse
import os
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from _support import migrated_app, scratch_postgres
from common import (
    REDIS_URL,
    WORKERS,
    insert_audience,
    issue_body,
    kith_env,
    percentile,
    progress,
    start_gunicorn,
    start_localstripe,
    start_send,
    start_sink,
    start_workers,
    stop,
    wait_for_send,
)
from deliveries import Answer, Delivery, Schedule, client, deliver, ok
from sqlalchemy import func, select, text
from stripe_world import World

from app.db import transaction, utcnow
from app.issues import service as issues
from app.members.models import Member
from app.payments.models import StripeEvent, Subscription
from app.payments.service import HANDLERS, grants_access
from app.queue import connection

DATABASE = os.environ.get("BENCH_STORM_DATABASE", "kith_bench_storm")
STRIPE_KEY = "sk_test_kith_storm"  # Kith's: its reads wait ``--stripe-latency``
BENCH_KEY = "sk_test_bench_hands"  # the storm's own changes and checks: no wait
WEBHOOK_SECRET = "whsec_kith_storm"
DUPLICATES = 0.10
HELD_BACK = 0.10


def produce(world: World, schedule: Schedule, args, rng: random.Random) -> Counter:
    """Make changes in localstripe at an even pace and schedule their events: the distinct
    ones until 90 % of ``--events``, a duplicate for one in nine, the rest topped up at the
    end so the total is exact. Returns how many were held back and duplicated."""
    late = min(4.0, args.seconds / 10)  # the longest hold-back; duplicates come up to 5/4 later
    window = args.seconds - 1.5 * late
    distinct = args.events - round(args.events * DUPLICATES)
    sent: list[tuple[float, dict[str, Any]]] = []
    counts = Counter()
    while len(sent) < distinct:
        left = distinct - len(sent)
        events = world.step(single=left < 8)
        for offset, event in enumerate(events):
            due = schedule.now() + 0.01 * offset + rng.uniform(0, 0.2)
            if rng.random() < HELD_BACK:
                due += rng.uniform(1, late)
                counts["held back"] += 1
            schedule.put(due, event)
            sent.append((due, event))
            if len(sent) % 9 == 0 and counts["duplicate"] < args.events - distinct:
                _duplicate(schedule, sent[-1], rng, late, counts)
        pace = len(sent) / distinct * window - schedule.now()
        if pace > 0 and world.follow_up is None:  # a second click comes at once
            time.sleep(pace)
    while counts["duplicate"] < args.events - len(sent):  # a last change may have overshot
        _duplicate(schedule, rng.choice(sent), rng, late, counts)
    return counts


def _duplicate(schedule: Schedule, first, rng: random.Random, late: float, counts) -> None:
    """Stripe delivers the same event again: at the same moment (racing the first), or later."""
    due, event = first
    if rng.random() < 0.5:
        counts["duplicate at once"] += 1
    else:
        due = max(due, schedule.now()) + rng.uniform(0.5, 1.25 * late)
    schedule.put(due, event, "duplicate")
    counts["duplicate"] += 1


def storm(base: str, world: World, args) -> tuple[list[Answer], Counter, float]:
    """Run the storm; then redeliver what failed (up to 3 times). Returns every answer, the
    counts of ``produce`` and the seconds until the storm's last answer."""
    schedule, answers = Schedule(), []
    threads = [threading.Thread(target=client, args=(base, WEBHOOK_SECRET, schedule, answers))
               for _ in range(args.clients)]  # fmt: skip
    for thread in threads:
        thread.start()
    try:
        counts = produce(world, schedule, args, random.Random(args.seed + 1))
    finally:
        schedule.close()
        for thread in threads:
            thread.join()
    seconds = schedule.now()
    failed = [answer for answer in answers if not ok(answer)]
    for _ in range(3):
        if not failed:
            break
        time.sleep(1)
        retried = [deliver(base, Delivery(0, 0, a.delivery.event, "retry"), WEBHOOK_SECRET)
                   for a in failed]  # fmt: skip
        answers += retried
        failed = [answer for answer in retried if not ok(answer)]
    counts["still failing"] = len(failed)
    return answers, counts, seconds


def send(app, issue, results: dict[str, Any]) -> None:
    """Send ``issue`` to everyone (the storm's L1 half); its seconds go into ``results``."""
    with app.app_context():
        started = time.perf_counter()
        send_id, expected = start_send(issue)
        results["send seconds"] = wait_for_send(send_id, expected, started)
        results["sent"] = expected


def seed_members(app, world: World, count: int) -> None:
    """``count`` free members, each with the Stripe customer Kith would have made for them."""
    with app.app_context(), transaction() as session:
        for number in range(count):
            member = Member(email=f"payer{number}@example.org", name=f"Payer {number}",
                            tier="free", status="active")  # fmt: skip
            session.add(member)
            session.flush()
            member.stripe_customer_id = world.add_customer(member.id, member.email).id


def check(app, world: World) -> dict[str, Any]:
    """Every member's tier and every subscription in Kith against localstripe's: the
    mismatches, and how many members are paid by Stripe's subscriptions and in Kith."""
    now = utcnow()
    problems, paid_members, paid_in_kith = [], 0, 0
    with app.app_context(), transaction() as session:
        for customer in world.customers:
            member = session.get(Member, customer.member_id)
            paid = False
            for subscription_id in customer.subscriptions:
                remote = world.client.v1.subscriptions.retrieve(subscription_id)
                period_end = datetime.fromtimestamp(remote.current_period_end, UTC)
                paid = paid or grants_access(remote.status, period_end, now)
                row = session.scalar(
                    select(Subscription).where(
                        Subscription.stripe_subscription_id == subscription_id
                    )
                )
                theirs = (remote.status, remote["items"].data[0].plan.id,
                          bool(remote.cancel_at_period_end), member.id)  # fmt: skip
                ours = row and (row.status, row.price_id, row.cancel_at_period_end, row.member_id)
                if ours != theirs:
                    problems.append(f"{subscription_id}: Stripe {theirs}, Kith {ours}")
            paid_members += paid
            paid_in_kith += member.tier == "paid"
            expected = "paid" if paid else "free"
            if member.tier != expected:
                problems.append(f"member {member.id}: Stripe says {expected}, Kith {member.tier}")
    return {"mismatches": problems, "paid": paid_members, "paid in kith": paid_in_kith}


def deadlocks(app) -> int:
    with app.app_context(), transaction() as session:
        query = text("SELECT deadlocks FROM pg_stat_database WHERE datname = :name")
        return session.scalar(query, {"name": DATABASE})


def recorded(app) -> int:
    with app.app_context(), transaction() as session:
        return session.scalar(select(func.count()).select_from(StripeEvent))


def by_type(answers: list[Answer]) -> None:
    """One row per event type: deliveries, and what Kith answered to them."""
    print(f"{'event type':40} {'sent':>5} {'applied':>8} {'duplicate':>10} {'ignored':>8} "
          f"{'non-2xx':>8}")  # fmt: skip
    kinds = sorted({answer.delivery.event["type"] for answer in answers})
    for kind in [*kinds, "all"]:
        mine = [a for a in answers if kind in ("all", a.delivery.event["type"])]
        outcomes = Counter(answer.outcome for answer in mine if ok(answer))
        print(f"{kind:40} {len(mine):5} {outcomes['applied']:8} {outcomes['duplicate']:10} "
              f"{outcomes['ignored']:8} {sum(not ok(answer) for answer in mine):8}")  # fmt: skip


def report(args, answers: list[Answer], counts: Counter, seconds: float, results: dict) -> bool:
    """Print the table; True when every target is met."""
    send = f"a send to {args.with_send:,} with {WORKERS} workers" if args.with_send else "no send"
    print(f"{args.events:,} signed Stripe events within {args.seconds:.0f} s from {args.clients} "
          f"clients; {args.members} members; gunicorn {args.web_workers} workers × "
          f"{args.threads} threads; localstripe answering Kith in 0–{2 * args.stripe_latency:g} s; "
          f"{send}")  # fmt: skip
    print(
        f"duplicates {counts['duplicate']} ({counts['duplicate at once']} at the same moment as "
        f"the first); held back 1–{min(4.0, args.seconds / 10):g} s: {counts['held back']}"
    )
    storm = [answer for answer in answers if answer.delivery.kind != "retry"]
    retries = [answer for answer in answers if answer.delivery.kind == "retry"]
    by_type(storm)
    latencies = [answer.seconds * 1000 for answer in storm]
    p50, p99, most = (percentile(latencies, 0.5), percentile(latencies, 0.99),
                      max(latencies, default=0.0))  # fmt: skip
    handled = {a.delivery.event["id"] for a in storm if a.delivery.event["type"] in HANDLERS}
    bad = [answer for answer in storm if not ok(answer)]
    rows = [
        ("deliveries/s", f"{len(storm) / seconds:.1f}",
         f"the last answer {seconds:.1f} s after the first change"),
        ("non-2xx answers", f"{len(bad)}", f"redelivered as Stripe does: {len(retries)}, "
         f"failing still after 3 tries: {counts['still failing']}"),
        ("latency p50 / p99 / max", f"{p50:,.0f} / {p99:,.0f} / {most:,.0f} ms", ""),
        ("events Kith recorded", f"{results['recorded']}",
         f"distinct handled events sent: {len(handled)}"),
        ("members paid in Stripe / in Kith", f"{results['paid']} / {results['paid in kith']}",
         f"of {args.members}"),
        ("entitlement mismatches", f"{len(results['mismatches'])}", ""),
        ("deadlocks (pg_stat_database)", f"{results['deadlocks']}", ""),
    ]  # fmt: skip
    if args.with_send:
        sent, took = results["sent"], results["send seconds"]
        rows.insert(3, ("send beside the storm", f"{sent / took:,.0f} messages/s",
                        f"{sent:,} in {took:.1f} s"))  # fmt: skip
    for name, value, note in rows:
        print(f"{name:34} {value:>20}  {note}".rstrip())
    for problem in results["mismatches"][:20]:
        print(f"  mismatch: {problem}")
    for answer in bad[:10]:
        print(f"  {answer.status} {answer.outcome!r} to {answer.delivery.event['type']}")
    met = (not bad and most < 5000 and not results["mismatches"] and results["deadlocks"] == 0
           and results["recorded"] == len(handled))  # fmt: skip
    print(f"targets: all 2xx, max latency < 5 s, entitlements equal Stripe's, each event "
          f"recorded once, 0 deadlocks: {'met' if met else 'MISSED'}")  # fmt: skip
    return met


def prepare(args, helpers: list) -> tuple[World, Any, dict[str, str], Any]:
    """localstripe with its plans, the scratch database with the members (each with their
    Stripe customer) and the send's audience and issue; returns the world, the app, the
    environment Kith runs with and the issue to send."""
    localstripe, api_base = start_localstripe(latency=args.stripe_latency, key=STRIPE_KEY)
    helpers.append(localstripe)
    world = World(stripe.StripeClient(BENCH_KEY, base_addresses={"api": api_base}),
                  random.Random(args.seed))  # fmt: skip
    plans = world.create_plans()
    sink, port = start_sink() if args.with_send else (None, 1)
    helpers += [sink] if sink else []
    database_url = scratch_postgres(DATABASE)
    app = migrated_app(database_url)
    app.extensions["kith.redis_url"] = REDIS_URL
    with app.app_context():
        connection(app).flushdb()  # queued jobs of an earlier run
    seed_members(app, world, args.members)
    with app.app_context(), transaction() as session:
        insert_audience(session, args.with_send)
        issue = issues.save_issue(session, {"title": "Storm", "body_markdown": issue_body()})
        issue = issues.publish(session, issue, at=utcnow() - timedelta(days=400))
    env = kith_env(database_url, port) | {
        "STRIPE_SECRET_KEY": STRIPE_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": api_base, "STRIPE_PRICE_MONTHLY": plans["monthly"],
        "STRIPE_PRICE_YEARLY": plans["yearly"]}  # fmt: skip
    progress(f"{args.members} members with Stripe customers; {args.with_send:,} recipients")
    return world, app, env, issue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--clients", type=int, default=8, help="concurrent deliveries")
    parser.add_argument("--with-send", type=int, default=20_000, metavar="N",
                        help="recipients of a send beside the storm; 0: no send")  # fmt: skip
    parser.add_argument("--stripe-latency", type=float, default=0.15, metavar="S",
                        help="Kith's reads from Stripe wait up to S seconds each way")  # fmt: skip
    parser.add_argument("--web-workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=4, help="per gunicorn worker (gthread)")
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    helpers, kith = [], []  # localstripe and the sink; gunicorn and the workers
    try:
        world, app, env, issue = prepare(args, helpers)
        web, base = start_gunicorn(env, args.web_workers, args.threads)
        kith.append(web)
        kith += start_workers(env) if args.with_send else []
        world.start()
        before = deadlocks(app)
        results: dict[str, Any] = {}
        sending = threading.Thread(target=send, args=(app, issue, results))
        if args.with_send:
            sending.start()
        progress(f"storm: {args.events} events to {base}")
        answers, counts, seconds = storm(base, world, args)
        progress(f"storm over in {seconds:.1f} s")
        if args.with_send:
            sending.join()
        results |= check(app, world)
        results["recorded"] = recorded(app)
        stop(kith)
        time.sleep(1.5)  # backends report their statistics when they end, within a second
        results["deadlocks"] = deadlocks(app) - before
    finally:
        stop([process for process in kith + helpers if process.poll() is None])
    app.extensions["kith.db"].engine.dispose()
    report(args, answers, counts, seconds, results)


if __name__ == "__main__":
    main()
