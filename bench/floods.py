"""Sign-in, magic-link and invitation floods during a big send, beside the same send without.

Reliability scenario L3. Kith as in bench/load.py (gunicorn, two ``kith worker`` processes,
smtp-sink, the same seeded publication and the same clients reading and replying), with
``TRUSTED_PROXIES=1`` as behind a load balancer, so that each flooder is its own client address
(``X-Forwarded-For``). Two phases, each the send of one issue to ``--recipients`` members while
the site is driven: first without a flood (the baseline), then with ``--flooders`` threads,
each from its own address, each asking without pause, in turn: a magic link for a new address
(``POST /login``), a guessed magic link (``POST /login/<token>``) and to join by a real open
invitation with a new address (``POST /join/<code>``). A flooder fetches each form's token
first, as a bot would; a sign-in or invitation that goes through sends its mail for real.
Prints the flood's answers per request and status, and per client address whether it was
refused (429) only once past each limit (``10 per minute`` for both form posts, ``20 per
minute`` for links; windows start at a client's first request); the site's p95 and p99 in both
phases; the web workers' peak memory.
Targets (reliability.md L3): 429s only beyond the configured limits and no 5xx; the site's
p95 under 2× the baseline; no worker lost or out of memory.
Run: .venv/bin/python bench/floods.py [--recipients 100000] [--flooders 50]
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing
import os
import secrets
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from common import (
    CSRF_INPUT,
    browse,
    child_pids,
    kith_env,
    percentile,
    progress,
    rss_mb,
    start_gunicorn,
    start_send,
    start_workers,
    stop,
    wait_for_send,
)
from load import Tally, add_site_arguments, drive, fresh_start, seed, sign_in

from app.db import transaction, utcnow
from app.issues import service as issues
from app.members import invites

DATABASE = os.environ.get("BENCH_FLOODS_DATABASE", "kith_bench_floods")
# Each flood request: its path, and its limit per client address per minute.
FLOODS = {
    "magic-link request": ("/login", 10),
    "guessed magic link": ("/login/{guess}", 20),
    "invitation join": ("/join/{code}", 10),
}


@dataclass
class Flooder:
    """One client address and what it was answered, per kind of request, in order."""

    address: str
    answers: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))


def flood(base: str, code: str, flooder: Flooder, pause: float, ready, go, stop_at) -> None:
    """Visit the sign-in page once for a form token (a session's token is good for all its
    forms), say ``ready``; from ``go`` on, post the three forms in turn until ``stop_at``."""
    headers = {"X-Forwarded-For": flooder.address}
    cookies: dict[str, str] = {}
    status, page = browse(base, "GET", "/login", cookies, headers=headers)
    token = CSRF_INPUT.search(page)
    ready.wait()
    if status != 200 or not token:
        raise SystemExit(f"the sign-in page answered {status} to a flooder")
    go.wait()
    for turn in itertools.count():
        if stop_at.wait(pause) if pause else stop_at.is_set():
            return
        kind = KINDS[turn % len(KINDS)]
        path = FLOODS[kind][0].format(guess=secrets.token_urlsafe(24), code=code)
        form = {"csrf_token": token[1], "email": f"flood-{secrets.token_hex(6)}@example.net"}
        try:
            status, _ = browse(base, "POST", path, cookies, form, headers=headers)
        except OSError:
            status = 0
        flooder.answers[kind].append(status)


KINDS = list(FLOODS)


def limit_kept(answers: list[int], limit: int, seconds: float) -> bool:
    """Refused only past the limit: the first ``limit`` answered, and no more than ``limit``
    per minute (a moving window) over ``seconds``. False when the flooder never reached the
    limit (nothing was shown)."""
    answered = [status != 429 for status in answers]
    if len(answers) <= limit:
        return False
    windows = math.ceil(seconds / 60) + 1
    return all(answered[:limit]) and sum(answered) <= limit * windows


def web_rss(master_pid: int, peak: dict[int, float], stop_at: threading.Event) -> None:
    while not stop_at.wait(1.0):
        for pid in child_pids(master_pid):
            peak[pid] = max(peak.get(pid, 0.0), rss_mb(pid))


def flood_process(base: str, code: str, addresses: list[str], pause: float, ready, go,
                  stop_at, results) -> None:  # fmt: skip
    """The flooders, in a process of their own: in the clients' process their threads would
    take the interpreter from the site's clients and slow the figures, not the site. Sets
    ``ready`` once every flooder holds its form token."""
    flooders = [Flooder(address) for address in addresses]
    all_ready = threading.Barrier(len(flooders) + 1)
    threads = [threading.Thread(target=flood, args=(base, code, flooder, pause, all_ready, go,
                                                    stop_at)) for flooder in flooders]  # fmt: skip
    for thread in threads:
        thread.start()
    all_ready.wait()
    ready.set()
    for thread in threads:
        thread.join()
    results.put([(flooder.address, dict(flooder.answers)) for flooder in flooders])


def measured_send(app, issue, site, readers, args, code: str, flooding: bool):
    """A send of ``issue`` while the site is driven (and the flood runs, if ``flooding``);
    the site's tally, the send's rate, its seconds and the flooders with their answers."""
    spawn = multiprocessing.get_context("spawn")
    ready, go, stop_flood, results = spawn.Event(), spawn.Event(), spawn.Event(), spawn.Queue()
    count = args.flooders if flooding else 0
    addresses = [f"10.77.{n // 250}.{n % 250 + 1}" for n in range(count)]
    flooders = spawn.Process(
        target=flood_process,
        args=(site.base, code, addresses, args.flood_pause, ready, go, stop_flood, results),
    )
    flooders.start()
    if not ready.wait(120):
        raise SystemExit("the flooders did not get ready")
    with app.app_context():
        start = time.perf_counter()
        send_id, sent = start_send(issue)
        go.set()
        seconds = []

        def until_sent() -> None:
            with app.app_context():
                seconds.append(wait_for_send(send_id, sent, start))

        tally = drive(site, readers, args, until_sent)
    stop_flood.set()
    answered = results.get(timeout=120)
    flooders.join()
    flooded = [Flooder(address, defaultdict(list, answers)) for address, answers in answered]
    return tally, sent / seconds[0], seconds[0], flooded


def report(args, base: Tally, flooded: Tally, rates, flooders, seconds, peak, alive) -> bool:
    print(
        f"{args.recipients:,} recipients, 2 workers, smtp-sink; gunicorn {args.web_workers} "
        f"workers × {args.threads} threads; {args.clients} clients thinking {args.think} s; "
        f"{len(flooders)} flooders, each its own address, "
        f"{f'{args.flood_pause} s apart' if args.flood_pause else 'without pause'}; "
        f"flood {seconds:.0f} s"
    )
    counts: dict[str, Counter] = defaultdict(Counter)
    for flooder in flooders:
        for kind, answers in flooder.answers.items():
            counts[kind].update(answers)
    print("flood answers")
    for kind in sorted(counts):
        statuses = ", ".join(f"{status}: {n:,}" for status, n in sorted(counts[kind].items()))
        print(f"  {kind:28} {sum(counts[kind].values()):8,}   {statuses}")
    kept = {kind: sum(limit_kept(flooder.answers[kind], limit, seconds) for flooder in flooders)
            for kind, (_, limit) in FLOODS.items()}  # fmt: skip
    for kind, (_, limit) in FLOODS.items():
        print(
            f"  {kind}: refused only past {limit} a minute for {kept[kind]} of "
            f"{len(flooders)} addresses"
        )
    server_errors = sum(n for kinds in counts.values() for status, n in kinds.items()
                        if status >= 500 or status == 0)  # fmt: skip
    print(f"{'':28} {'no flood':>12} {'flood':>12}  ratio")
    for name, values in (("site p95 latency", 0.95), ("site p99 latency", 0.99)):
        before, after = percentile(base.all(), values), percentile(flooded.all(), values)
        print(f"{name:28} {before:9.1f} ms {after:9.1f} ms  {after / before:5.2f}×")
    print(f"{'site requests/s':28} {base.rate():12.1f} {flooded.rate():12.1f}")
    print(f"{'site errors':28} {len(base.errors):12} {len(flooded.errors):12}")
    ratio = rates[1] / rates[0]
    print(f"{'send messages/s':28} {rates[0]:12,.1f} {rates[1]:12,.1f}  {ratio:5.2f}×")
    print(
        f"web workers' peak memory: {', '.join(f'{mb:.0f} MB' for mb in peak.values())}; "
        f"gunicorn {'up' if alive else 'GONE'}"
    )
    p95_ratio = percentile(flooded.all(), 0.95) / percentile(base.all(), 0.95)
    met = (all(n == len(flooders) for n in kept.values()) and server_errors == 0
           and p95_ratio < 2 and alive and not base.errors and not flooded.errors)  # fmt: skip
    print(
        "targets: 429 only past the limits, no 5xx, site p95 < 2× the baseline, no worker "
        f"lost: {'met' if met else 'MISSED'}"
    )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_site_arguments(parser)
    parser.add_argument("--flooders", type=int, default=50)
    parser.add_argument("--flood-pause", type=float, default=0.0, help="seconds a flooder "
                        "waits between requests (0: none, as fast as answers come)")  # fmt: skip
    args = parser.parse_args()
    sink, port, database_url, app = fresh_start(DATABASE)
    processes = [sink]
    try:
        site, sends = seed(app, args.recipients, args.members)
        with app.app_context(), transaction() as session:
            code = invites.create(session, note="the flood's invitation").code
            third = issues.save_issue(session, {"title": "Bench send, flooded", "body_markdown":
                                                "Words. " * 400})  # fmt: skip
            sends.append(issues.publish(session, third, at=utcnow() - timedelta(days=400)))
        progress("seeded")
        env = {**kith_env(database_url, port), "TRUSTED_PROXIES": "1"}
        web, site.base = start_gunicorn(env, args.web_workers, args.threads)
        processes.append(web)
        readers = sign_in(site)
        processes += start_workers(env)
        progress(f"serving at {site.base}; {len(readers)} members signed in")
        peak: dict[int, float] = {}
        stop_sampling = threading.Event()
        sampler = threading.Thread(target=web_rss, args=(web.pid, peak, stop_sampling))
        sampler.start()
        base, base_rate, _, _ = measured_send(app, sends[1], site, readers, args, code, False)
        progress(f"send beside the site: {base_rate:,.0f} messages/s")
        flooded, flooded_rate, seconds, flooders = measured_send(
            app, sends[2], site, readers, args, code, True
        )
        progress(f"send beside the site and the flood: {flooded_rate:,.0f} messages/s")
        stop_sampling.set()
        sampler.join()
        alive = web.poll() is None and len(child_pids(web.pid)) == args.web_workers
    finally:
        stop(processes[1:])
        sink.terminate()
        app.extensions["kith.db"].engine.dispose()
    report(args, base, flooded, (base_rate, flooded_rate), flooders, seconds, peak, alive)


if __name__ == "__main__":
    main()
