"""The site under load while a big send runs, each half beside its figures with the other idle.

Kith runs under gunicorn on loopback with PostgreSQL and Redis; two ``kith worker`` processes
send to Postfix's ``smtp-sink`` (see bench/send.py). A fixed number of client threads (bounded
concurrency, no think time) drive the public site anonymously (home, archive, issue pages of
each visibility, /feed.xml) and signed-in members (thread pages, posting replies; signed in
through the real magic-link pages). Three phases: the site alone for ``--seconds``; a send of
one issue to ``--recipients`` members with the site idle; a send of another issue to the same
members while the site is driven for as long as the send takes. Prints requests/s, p50/p99
latency and errors of the site and the send's messages/s, each beside its idle figure.
Targets: zero errors, site p99 under 100 ms, send rate ≥ 70 % of idle.
Run: .venv/bin/python bench/load.py [--recipients 100000] [--seconds 30] [--clients 8]
(the default run takes about 6 minutes on the 2-core machine: two sends of 100,000).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from _support import ROOT, migrated_app, scratch_postgres
from common import (
    CSRF_INPUT,
    REDIS_URL,
    WORKERS,
    SignedIn,
    browse,
    insert_audience,
    issue_body,
    kith_env,
    percentile,
    progress,
    sign_in_by_link,
    start_gunicorn,
    start_send,
    start_sink,
    start_workers,
    stop,
    wait_for_send,
)

from app.db import transaction, utcnow
from app.discussions import boards, forums
from app.discussions import service as discussions
from app.issues import content
from app.issues import service as issues
from app.members import service as members
from app.members.models import Member

DATABASE = os.environ.get("BENCH_LOAD_DATABASE", "kith_bench_load")
BIN = Path(sys.executable).parent
POST_EVERY = 31.0  # seconds between one member's replies: 20 per 10 minutes is the limit


@dataclass
class Site:
    """What the seeded site offers the clients."""

    base: str = ""
    pages: list[str] = field(default_factory=list)  # public paths for anonymous readers
    threads: dict[str, list[int]] = field(default_factory=dict)  # tier → readable thread ids
    logins: list[tuple[str, str]] = field(default_factory=list)  # (tier, sign-in path)


def seed(app, recipients: int, signed_in: int) -> tuple[Site, list]:
    """The publication, its forum and members; returns the site and the two issues to send."""
    site = Site()
    with app.app_context(), transaction() as session:
        insert_audience(session, recipients)
        content.sync_directory(session, ROOT / "content")
        for number in range(12):
            issue = issues.save_issue(session, {
                "title": f"Kitchen notes {number}", "excerpt": "What the kitchens saw.",
                "visibility": ("public", "members", "paid")[number % 3],
                "body_markdown": issue_body()})  # fmt: skip
            issues.publish(session, issue, at=utcnow() - timedelta(days=30 + number))
        sends = []
        for title in ("Bench send, site idle", "Bench send, site under load"):
            issue = issues.save_issue(session, {"title": title, "body_markdown": issue_body()})
            sends.append(issues.publish(session, issue, at=utcnow() - timedelta(days=400)))
        editor = members.create_editor(session, "editor@example.org", name="Edith")
        boards.seed_demo(session, editor)
        for board in forums.all_boards(session):
            ids = []
            for number in range(6):
                topic = forums.create_topic(
                    session, editor, board, f"{board.name} topic {number}", "Opening words."
                )
                for reply in range(12):
                    discussions.create_post(session, editor, topic, f"Reply {reply}. " * 20)
                ids.append(topic.id)
            site.threads[board.access] = ids
        site.pages = ["/", "/archive", "/feed.xml"] + [
            f"/issues/{issue.slug}" for issue in issues.published_page(session, 1, 20).items
        ]
        settings = app.extensions["kith.settings"]
        for number in range(signed_in):
            tier = ("paid", "free")[number % 2]
            member = Member(email=f"member{number}@example.org", name=f"Member {number}",
                            tier=tier, status="active")  # fmt: skip
            session.add(member)
            session.flush()
            link = members.login_url(settings, members.start_login(session, member))
            site.logins.append((tier, urlsplit(link).path))
    return site, sends


def sign_in(site: Site) -> list[SignedIn]:
    """Each test member through the magic-link pages, then the form token of a thread page."""
    readers = []
    for tier, path in site.logins:
        reader = SignedIn(tier, sign_in_by_link(site.base, path))
        thread = site.threads[reader.tier == "paid" and "paid" or "members"][0]
        status, page = browse(site.base, "GET", f"/t/{thread}", reader.cookies)
        token = CSRF_INPUT.search(page)
        if status != 200 or not token:
            raise SystemExit(f"/t/{thread} answered {status} to a signed-in member")
        reader.csrf = token[1]
        readers.append(reader)
    return readers


class Tally:
    """Latencies and errors of one phase, per kind of request; safe across client threads."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {"public": [], "member": [], "reply": []}
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.seconds = 0.0

    def record(self, kind: str, started: float, status: int, expected: int, what: str) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.latencies[kind].append(elapsed)
            if status != expected:
                self.errors.append(f"{what} answered {status}")

    def all(self) -> list[float]:
        return sorted(value for values in self.latencies.values() for value in values)

    def rate(self) -> float:
        return len(self.all()) / self.seconds if self.seconds else 0.0


def client(site: Site, readers: list[SignedIn], tally: Tally, stop_at: threading.Event, n: int,
           think: float):  # fmt: skip
    """One client thread: anonymous pages, or (with readers) a member's threads and replies;
    ``think`` seconds between one answer and the next request, as a person reading."""
    turn = n
    while not stop_at.wait(think * (0.5 + random.random()) if think else 0):
        turn += 1
        if not readers:
            path = site.pages[turn % len(site.pages)]
            started = time.perf_counter()
            status = _safe(site.base, "GET", path)
            tally.record("public", started, status, 200, f"GET {path}")
            continue
        reader = readers[turn % len(readers)]
        threads = site.threads["paid" if reader.tier == "paid" else "members"]
        thread = threads[turn % len(threads)]
        started = time.perf_counter()
        if reader.next_post <= started:
            reader.next_post = started + POST_EVERY
            form = {"csrf_token": reader.csrf, "body": f"A reply under load, turn {turn}."}
            status = _safe(site.base, "POST", f"/t/{thread}/posts", reader.cookies, form)
            tally.record("reply", started, status, 303, f"POST /t/{thread}/posts")
        else:
            status = _safe(site.base, "GET", f"/t/{thread}", reader.cookies)
            tally.record("member", started, status, 200, f"GET /t/{thread}")


def _safe(base: str, method: str, path: str, cookies=None, form=None) -> int:
    """The status, or 0 when the connection failed (counted as an error)."""
    try:
        return browse(base, method, path, cookies, form)[0]
    except OSError:
        return 0


def drive(site: Site, readers: list[SignedIn], args, until) -> Tally:
    """Run ``args.clients`` threads, half anonymous and half signed in (each member driven by
    one thread only), until ``until()`` returns."""
    tally, stop_at = Tally(), threading.Event()
    members_from = args.clients - args.clients // 2
    threads = []
    for n in range(args.clients):
        mine = readers[n - members_from :: args.clients // 2] if n >= members_from else []
        threads.append(
            threading.Thread(target=client, args=(site, mine, tally, stop_at, n, args.think))
        )
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    until()
    stop_at.set()
    for thread in threads:
        thread.join()
    tally.seconds = time.perf_counter() - started
    return tally


def row(name: str, idle: float, loaded: float, unit: str = "") -> str:
    ratio = f"{loaded / idle:5.2f}×" if idle else "   – "
    return f"{name:28} {idle:10,.1f}{unit:5} {loaded:10,.1f}{unit:5} {ratio}"


def report(args, idle: Tally, loaded: Tally, send_idle: float, send_loaded: float) -> bool:
    """Print the table; True when every target is met."""
    print(f"{args.recipients:,} recipients, {WORKERS} workers, smtp-sink; gunicorn "
          f"{args.web_workers} workers × {args.threads} threads; {args.clients} clients "
          f"thinking {args.think} s "
          f"(half signed in, {args.members} members); site alone {idle.seconds:.0f} s, "
          f"under send {loaded.seconds:.0f} s")  # fmt: skip
    print(f"{'':28} {'idle':>15} {'under load':>15}  ratio")
    print(row("site requests/s", idle.rate(), loaded.rate()))
    for name, fraction in (("p50", 0.5), ("p99", 0.99)):
        print(row(f"site {name} latency", percentile(idle.all(), fraction),
                  percentile(loaded.all(), fraction), " ms"))  # fmt: skip
        for kind in ("public", "member", "reply"):
            print(row(f"  {kind} {name}", percentile(idle.latencies[kind], fraction),
                      percentile(loaded.latencies[kind], fraction), " ms"))  # fmt: skip
    print(row("site requests", len(idle.all()), len(loaded.all())))
    print(row("site errors", len(idle.errors), len(loaded.errors)))
    print(row("send messages/s", send_idle, send_loaded))
    for error in sorted(set(idle.errors + loaded.errors))[:10]:
        print(f"error: {error}")
    p99 = percentile(loaded.all(), 0.99)
    met = not idle.errors and not loaded.errors and p99 < 100 and send_loaded >= 0.7 * send_idle
    verdict = "met" if met else "MISSED"
    print(f"targets: zero errors, site p99 < 100 ms, send ≥ 70 % of idle: {verdict}")
    return met


def add_site_arguments(parser: argparse.ArgumentParser) -> None:
    """The send's, the site's and its clients' options (bench/floods.py takes them too)."""
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20, help="half of them signed in")
    parser.add_argument("--think", type=float, default=0.5, help="mean seconds between a "
                        "client's requests; 0 drives the site as hard as it goes")  # fmt: skip
    parser.add_argument("--members", type=int, default=16, help="signed in (the sign-in "
                        "form allows 20 a minute from one address)")  # fmt: skip
    parser.add_argument("--web-workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=4, help="per gunicorn worker (gthread)")


def fresh_start(database: str):
    """The SMTP sink (process, port), a new scratch database's URL and its migrated app, and
    Redis emptied of an earlier run's rate-limit counters."""
    from app.queue import connection

    sink, port = start_sink()
    database_url = scratch_postgres(database)
    app = migrated_app(database_url)
    app.extensions["kith.redis_url"] = REDIS_URL
    with app.app_context():
        connection(app).flushdb()
    return sink, port, database_url, app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_site_arguments(parser)
    parser.add_argument("--seconds", type=float, default=30, help="the site-alone phase")
    args = parser.parse_args()
    sink, port, database_url, app = fresh_start(DATABASE)
    processes = [sink]
    try:
        site, sends = seed(app, args.recipients, args.members)
        progress("seeded")
        env = kith_env(database_url, port)
        web, site.base = start_gunicorn(env, args.web_workers, args.threads)
        processes.append(web)
        readers = sign_in(site)
        progress(f"serving at {site.base}; {len(readers)} members signed in")
        idle = drive(site, readers, args, lambda: time.sleep(args.seconds))
        progress("site alone: measured")
        processes += start_workers(env)
        with app.app_context():
            start = time.perf_counter()
            send_id, sent = start_send(sends[0])
            send_idle = sent / wait_for_send(send_id, sent, start)
            progress(f"send alone: {send_idle:,.0f} messages/s")
            start = time.perf_counter()
            send_id, sent = start_send(sends[1])
            seconds = []

            def until_sent() -> None:
                with app.app_context():
                    seconds.append(wait_for_send(send_id, sent, start))

            loaded = drive(site, readers, args, until_sent)
            send_loaded = sent / seconds[0]
            progress("send beside the site: measured")
    finally:
        stop(processes[1:])
        sink.terminate()
        app.extensions["kith.db"].engine.dispose()
    report(args, idle, loaded, send_idle, send_loaded)


if __name__ == "__main__":
    main()
