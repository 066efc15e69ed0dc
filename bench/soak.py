"""Kith for hours at an everyday pace, and whether what it holds stays flat (reliability L5).

gunicorn on PostgreSQL, two ``kith worker`` processes sending to Postfix's smtp-sink and
``kith inbound-smtp`` taking replies by email, as docs/deploy.md runs them. A seeded
publication (issues; two forum boards of topics; members signed in through the magic-link
pages) is driven for ``--minutes``: anonymous readers, signed-in members reading threads and
replying within the posting limits, ``--replies`` replies mailed over SMTP to the inbound
server at real signed reply+ addresses (issue, topic and post tokens), spread evenly, one in
``--redeliver-every`` delivered twice as an MTA that lost the 250 would; a small send every
``--send-every`` minutes, so RQ jobs never stop coming (each reply also queues notifications).
Every ``--sample`` seconds bench/footprint.py reads each process's memory, PostgreSQL
connections, Redis keys and RQ's queues and registries. Prints, per metric, its value after the
warm-up and at the end (medians of three samples), the max and the change; the target: each
within ±10 % (±1 for counts).
Then requests and errors, and the mailed replies checked in the database: each posted once.
Run: BENCH_REDIS_URL=redis://127.0.0.1:6379/N .venv/bin/python bench/soak.py
     [--minutes 120] [--replies 5000] [--sample 60] [--csv samples.csv]
(BENCH_SOAK_DATABASE names the scratch database, kith_bench_soak by default.)
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
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
    sign_in_by_link,
    start_gunicorn,
    start_inbound,
    start_send,
    start_sink,
    start_workers,
    stop,
)
from footprint import OWN_CONNECTIONS, P50, P99, TOLERANCE, WINDOW, Footprint
from redis import Redis
from replies_by_mail import MailedReplies, Writer
from sqlalchemy import func, select

from app.db import transaction, utcnow
from app.discussions import boards, forums
from app.discussions import service as discussions
from app.discussions.models import Post
from app.issues import content
from app.issues import service as issues
from app.members import service as members
from app.members.models import Member
from app.queue import connection
from app.sending.models import Delivery

DATABASE = os.environ.get("BENCH_SOAK_DATABASE", "kith_bench_soak")
REPLY_DOMAIN = "reply.example.org"


@dataclass
class Site:
    """What the seeded publication offers the drivers."""

    base: str = ""
    pages: list[str] = field(default_factory=list)  # public paths for anonymous readers
    topics: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # board → (topic, post)
    issues: list[int] = field(default_factory=list)  # issues any member may answer
    logins: list[tuple[str, str]] = field(default_factory=list)  # (tier, sign-in path)
    writers: list[Writer] = field(default_factory=list)  # they reply by email


class Tally:
    """Requests, their errors and latencies, and the sends, across the driving threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.errors: list[str] = []
        self.window: list[float] = []  # latencies (ms) since the last sample
        self.sends: list[tuple[int, int]] = []  # (send id, recipients)

    def call(self, kind: str, expected: int, base: str, method: str, path: str, cookies=None,
             form=None) -> str:  # fmt: skip
        """One request, counted; the page ("" when it failed)."""
        started = time.perf_counter()
        try:
            status, page = browse(base, method, path, cookies, form)
        except OSError as error:
            status, page = 0, f"{type(error).__name__}: {error}"
        with self.lock:
            self.requests[kind] += 1
            self.window.append((time.perf_counter() - started) * 1000)
            if status != expected:
                self.errors.append(f"{method} {path} answered {status}")
        return page if status == expected else ""

    def latencies(self) -> dict[str, float]:
        """p50 and p99 of the requests answered since the last call."""
        with self.lock:
            window, self.window = self.window, []
        return {P50: percentile(window, 0.5), P99: percentile(window, 0.99)}


def seed(app, args) -> Site:
    """Issues, two boards of ``args.topics`` topics each, the members to sign in and those who
    reply by email (enough that none posts more than once a minute: the limit is 20 in 10)."""
    site = Site()
    with app.app_context(), transaction() as session:
        insert_audience(session, args.audience)
        content.sync_directory(session, ROOT / "content")
        for number in range(9):
            visibility = ("public", "members", "paid")[number % 3]
            issue = issues.save_issue(session, {
                "title": f"Kitchen notes {number}", "excerpt": "What the kitchens saw.",
                "visibility": visibility, "body_markdown": issue_body()})  # fmt: skip
            issues.publish(session, issue, at=utcnow() - timedelta(days=30 + number))
            if visibility != "paid":
                site.issues.append(issue.id)
        editor = members.create_editor(session, "editor@example.org", name="Edith")
        boards.seed_demo(session, editor)
        for board in forums.all_boards(session):
            for number in range(args.topics):
                topic = forums.create_topic(
                    session, editor, board, f"{board.name} topic {number}", "Opening words."
                )
                opening = select(func.min(Post.id)).where(Post.thread_id == topic.id)
                opening = session.scalar(opening)
                for reply in range(3):
                    discussions.create_post(session, editor, topic, f"Reply {reply}. " * 20)
                site.topics.setdefault(board.access, []).append((topic.id, opening))
        site.pages = ["/", "/archive", "/feed.xml", "/forum"] + [
            f"/issues/{issue.slug}" for issue in issues.published_page(session, 1, 20).items
        ]
        settings = app.extensions["kith.settings"]
        writers = max(2, math.ceil(args.replies / args.minutes))
        for number in range(args.members + writers):
            tier = ("paid", "free")[number % 2]
            kind = "member" if number < args.members else "writer"
            member = Member(email=f"{kind}{number}@example.org", name=f"{kind.title()} {number}",
                            tier=tier, status="active")  # fmt: skip
            session.add(member)
            session.flush()
            if kind == "writer":
                site.writers.append(Writer(member.id, member.email, answerable(site, tier)))
                continue
            link = members.login_url(settings, members.start_login(session, member))
            site.logins.append((tier, urlsplit(link).path))
    return site


def board_of(tier: str) -> str:
    return "paid" if tier == "paid" else "members"


def answerable(site: Site, tier: str) -> tuple[dict[str, int], ...]:
    """What a member of ``tier`` may answer by email: each topic, its opening post, an issue."""
    topics = site.topics[board_of(tier)]
    return tuple(
        target
        for (thread, post), issue in zip(topics, itertools.cycle(site.issues))
        for target in (
            {"thread_id": thread},
            {"thread_id": thread, "post_id": post},
            {"issue_id": issue},
        )
    )


def pause(think: float) -> float:
    return think * (0.5 + random.random())


def anonymous(site: Site, tally: Tally, done: threading.Event, n: int, think: float) -> None:
    for turn in itertools.count(n):
        if done.wait(pause(think)):
            return
        tally.call("public", 200, site.base, "GET", site.pages[turn % len(site.pages)])


def signed_in(site: Site, readers: list[SignedIn], tally: Tally, done: threading.Event, n: int,
              args) -> None:  # fmt: skip
    """Members reading threads; each replies on the page it read once ``--post-every`` is up."""
    for turn in itertools.count(n):
        if done.wait(pause(args.think)):
            return
        reader = readers[turn % len(readers)]
        topics = site.topics[board_of(reader.tier)]
        thread = topics[turn % len(topics)][0]
        if reader.csrf and reader.next_post <= time.monotonic():
            reader.next_post = time.monotonic() + args.post_every
            form = {"csrf_token": reader.csrf, "body": f"A reply from the web, turn {turn}."}
            tally.call("reply", 303, site.base, "POST", f"/t/{thread}/posts", reader.cookies, form)
            continue
        page = tally.call("member", 200, site.base, "GET", f"/t/{thread}", reader.cookies)
        if token := CSRF_INPUT.search(page):
            reader.csrf = token[1]
        if not reader.next_post:  # the first replies spread over the first interval
            reader.next_post = time.monotonic() + random.random() * args.post_every


def small_sends(app, tally: Tally, done: threading.Event, every: float) -> None:
    """A short issue to everyone now and every ``every`` seconds."""
    for number in itertools.count(1):
        with app.app_context():
            with transaction() as session:
                fields = {"title": f"Soak letter {number}", "body_markdown": "A short letter.\n"}
                issue = issues.save_issue(session, fields)
                issues.publish(session, issue)
            tally.sends.append(start_send(issue))
        if done.wait(every):
            return


def drive(
    app, site: Site, readers: list[SignedIn], mail: MailedReplies, args
) -> tuple[Tally, Driving]:
    """Start every driver: anonymous and signed-in clients, mailed replies, small sends."""
    tally, done = Tally(), threading.Event()
    signed = min(args.clients // 2, len(readers))
    threads = [
        threading.Thread(target=anonymous, args=(site, tally, done, n, args.think))
        for n in range(args.clients - signed)
    ]
    threads += [
        threading.Thread(target=signed_in, args=(site, readers[n::signed], tally, done, n, args))
        for n in range(signed)
    ]
    threads.append(threading.Thread(target=mail.run, args=(done,)))
    if args.send_every:
        threads.append(
            threading.Thread(target=small_sends, args=(app, tally, done, args.send_every * 60))
        )
    for thread in threads:
        thread.start()
    return tally, Driving(done, threads)


@dataclass
class Driving:
    done: threading.Event
    threads: list[threading.Thread]

    def stop(self) -> None:
        self.done.set()
        for thread in self.threads:
            thread.join()


def watch(footprint: Footprint, tally: Tally, mail: MailedReplies, minutes: float,
          every: float) -> None:  # fmt: skip
    """Sample at the start, every ``every`` seconds and at the end of ``minutes`` (or when
    interrupted with Ctrl-C or SIGTERM: the report then covers what was sampled)."""
    started, end = time.monotonic(), minutes * 60
    for number in itertools.count():
        at = min(number * every, end)
        try:
            time.sleep(max(0.0, started + at - time.monotonic()))
        except KeyboardInterrupt:
            timestamped("interrupted: the report covers the samples so far")
            return
        footprint.sample(at, tally.latencies())
        with tally.lock:
            counts = sum(tally.requests.values()), len(mail.accepted), len(tally.errors)
        timestamped("{:,} requests, {:,} replies mailed, {:,} errors".format(*counts))
        if at >= end:
            return


def sends_line(sends: list[tuple[int, int]]) -> str:
    query = select(func.count()).select_from(Delivery).where(Delivery.status == "sent")
    with transaction() as session:
        sent = session.scalar(query.where(Delivery.send_id.in_([send for send, _ in sends])))
    return f"sends: {len(sends):,}, {sent:,} messages sent of {sum(n for _, n in sends):,}"


def report(args, warmup: float, footprint: Footprint, tally: Tally, mail: MailedReplies,
           sent: str, mailed: str) -> None:  # fmt: skip
    print(f"soak of {args.minutes:g} min (warm-up {warmup / 60:g} min, a sample every "
          f"{args.sample:g} s); gunicorn {args.web_workers} workers × {args.threads} threads, "
          f"{WORKERS} kith workers, kith inbound-smtp, smtp-sink; {args.clients} clients "
          f"thinking {args.think} s, {args.members} members signed in replying every "
          f"{args.post_every:g} s; {args.replies:,} replies by email")  # fmt: skip
    rows, missed = footprint.table(warmup)
    print("\n".join(rows))
    verdict = f"MISSED ({', '.join(missed)})" if missed else "met"
    print(f"targets: memory, connections, Redis keys and RQ registries flat (median of the last "
          f"{WINDOW} samples within ±{TOLERANCE:.0%} of the first {WINDOW} after warm-up, ±1 for "
          f"counts): {verdict}")  # fmt: skip
    errors = tally.errors + mail.errors
    kinds = ", ".join(f"{kind} {tally.requests[kind]:,}" for kind in ("public", "member", "reply"))
    print(f"requests: {sum(tally.requests.values()):,} ({kinds}); errors: {len(errors):,}")
    print(mailed)
    print(sent)
    for error in sorted(set(errors))[:10]:
        print(f"error: {error}")


def timestamped(message: str, started: float = time.perf_counter()) -> None:
    print(f"[{time.perf_counter() - started:7.1f} s] {message}", file=sys.stderr, flush=True)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120)
    parser.add_argument("--replies", type=int, default=5000, help="mailed, spread evenly")
    parser.add_argument("--redeliver-every", type=int, default=50, help="one mailed reply in "
                        "this many is delivered twice")  # fmt: skip
    parser.add_argument("--sample", type=float, default=60, help="seconds between samples")
    parser.add_argument("--warmup", type=float, help="minutes before the first compared "
                        "sample (default: half the run, at most 15)")  # fmt: skip
    parser.add_argument("--clients", type=int, default=8, help="half of them signed in")
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between requests")
    parser.add_argument("--members", type=int, default=16, help="signed in on the web")
    parser.add_argument("--post-every", type=float, default=60, help="seconds between one "
                        "member's web replies (the limit is 20 in 10 minutes)")  # fmt: skip
    parser.add_argument("--topics", type=int, default=100, help="per board")
    parser.add_argument("--audience", type=int, default=300, help="readers besides the members")
    parser.add_argument("--send-every", type=float, default=5, help="minutes; 0: no sends")
    parser.add_argument("--web-workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=4, help="per gunicorn worker (gthread)")
    parser.add_argument("--csv", type=Path, help="write every sample here")
    return parser.parse_args()


def start_kith(env: dict[str, str], args, logs: Path) -> tuple[dict[str, subprocess.Popen],
                                                               str, int]:  # fmt: skip
    """gunicorn, ``kith inbound-smtp`` and the workers, started side by side: the processes by
    label, the site's URL and the inbound server's port."""
    with ThreadPoolExecutor() as pool:
        web = pool.submit(start_gunicorn, env, args.web_workers, args.threads, logs)
        inbound = pool.submit(start_inbound, env, logs)
        workers = pool.submit(start_workers, env, logs=logs)
    if failed := [future for future in (web, inbound, workers) if future.exception()]:
        stop([*(future.result()[0] for future in (web, inbound) if not future.exception()),
              *(workers.result() if not workers.exception() else [])])  # fmt: skip
        raise failed[0].exception()
    (gunicorn, base), (server, port) = web.result(), inbound.result()
    processes = {"gunicorn master": gunicorn, "inbound-smtp": server}
    processes |= {f"kith worker {n}": worker for n, worker in enumerate(workers.result(), 1)}
    return processes, base, port


def main() -> None:
    args = arguments()
    # SIGTERM (and SIGINT, ignored in a background job) stop the run as Ctrl-C does: the
    # processes it started are stopped, and a run past its start still reports.
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, signal.default_int_handler)
    warmup = 60 * (args.warmup if args.warmup is not None else min(15.0, args.minutes / 2))
    logs = Path(tempfile.mkdtemp(prefix="kith-soak-"))
    sink, smtp_port = start_sink()
    database_url = scratch_postgres(DATABASE)
    app = migrated_app(f"{database_url}?application_name={OWN_CONNECTIONS}",
                       reply_domain=REPLY_DOMAIN)  # fmt: skip
    app.extensions["kith.redis_url"] = REDIS_URL
    processes = {}
    try:
        with app.app_context():
            connection(app).flushdb()  # the rate limiter's counters of an earlier run
        site = seed(app, args)
        timestamped("seeded")
        env = {**kith_env(database_url, smtp_port), "REPLY_DOMAIN": REPLY_DOMAIN}
        started, site.base, inbound_port = start_kith(env, args, logs)
        processes.update(started)
        timestamped(f"serving at {site.base}; logs in {logs}")
        readers = [SignedIn(tier, sign_in_by_link(site.base, path)) for tier, path in site.logins]
        timestamped(f"{len(readers)} members signed in")
        children = {"gunicorn master": "gunicorn worker"} | {
            label: f"{label} scheduler" for label in processes if label.startswith("kith worker")
        }
        footprint = Footprint(processes, Redis.from_url(REDIS_URL), children)
        with app.app_context():
            mail = MailedReplies(app.extensions["kith.settings"], inbound_port, site.writers,
                                 args.replies, args.minutes * 60, args.redeliver_every)  # fmt: skip
            tally, driving = drive(app, site, readers, mail, args)
            try:
                watch(footprint, tally, mail, args.minutes, args.sample)
            finally:
                driving.stop()
            sent = sends_line(tally.sends)
            mailed = mail.check()
    finally:
        stop(list(processes.values()))
        sink.terminate()
        app.extensions["kith.db"].engine.dispose()
    if args.csv:
        args.csv.write_text(footprint.csv())
    report(args, warmup, footprint, tally, mail, sent, mailed)


if __name__ == "__main__":
    main()
