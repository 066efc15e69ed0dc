"""Pieces the benchmarks share: the SMTP sink, a bulk audience, ``kith worker``, gunicorn and
``kith inbound-smtp`` processes, one timed send (bench/send.py alone, bench/load.py beside site
traffic, bench/storm.py beside Stripe's webhooks), requests as a browser makes them, a
localstripe server, and what a process holds in memory (bench/soak.py).
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from _support import ROOT
from redis import Redis
from rq import Worker
from sqlalchemy import func, select, text

from app.db import transaction
from app.sending import service as sending
from app.sending.control import PENDING_STATES
from app.sending.jobs import enqueue_send
from app.sending.models import FINAL_STATES, Delivery

CACHE = Path(__file__).resolve().parent / ".cache"
BIN = Path(sys.executable).parent
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
SECRET_KEY = "bench-" * 8
WORKERS = 2
QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
BIN = Path(sys.executable).parent
KITH = str(BIN / "kith")
CSRF_INPUT = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def smtp_sink() -> tuple[Path, dict[str, str]]:
    """Postfix's smtp-sink binary, fetched once from Debian's package into bench/.cache."""
    binary = CACHE / "postfix" / "usr" / "sbin" / "smtp-sink"
    if not binary.exists():
        CACHE.mkdir(exist_ok=True)
        subprocess.run(
            ["apt-get", "download", "postfix"], cwd=CACHE, check=True, capture_output=True
        )
        package = next(CACHE.glob("postfix_*.deb"))
        subprocess.run(["dpkg", "-x", str(package), str(CACHE / "postfix")], check=True)
    return binary, {
        **os.environ,
        "LD_LIBRARY_PATH": str(CACHE / "postfix" / "usr" / "lib" / "postfix"),
    }


def start_sink() -> tuple[subprocess.Popen, int]:
    """smtp-sink on a free loopback port, accepting and discarding every message."""
    binary, env = smtp_sink()
    port = free_port()
    sink = subprocess.Popen([str(binary), "-u", "root", f"127.0.0.1:{port}", "1024"], env=env)
    time.sleep(0.5)
    return sink, port


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def issue_body() -> str:
    paragraph = (
        "Bakers in many kitchens mixed the same dough and wrote down every step, so this section "
        "can say with some confidence that temperature mattered more than time. "
    )
    sections = [
        f"## Section {n}\n\n" + paragraph * 6 + "\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
        for n in range(13)
    ]
    return "\n\n".join(sections)


def insert_audience(session, count: int) -> None:
    """``count`` active free members, written by the server in one statement."""
    session.execute(
        text(
            "INSERT INTO members (email, name, role, tier, status, source, fields, "
            "created_at) SELECT 'reader' || n || '@example.com', 'Reader ' || n, "
            "'member', 'free', 'active', 'import', '{}', now() "
            "FROM generate_series(1, :n) AS n"
        ),
        {"n": count},
    )


def kith_env(database_url: str, smtp_port: int) -> dict[str, str]:
    """The environment a Kith process (worker or web) of the benchmark runs with: this
    checkout's ``app`` first on the path, whichever checkout the venv's ``kith`` was installed
    from."""
    given = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    path = os.pathsep.join([str(ROOT), *(entry for entry in given if entry not in ("", str(ROOT)))])
    return {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL,
            "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}", "SECRET_KEY": SECRET_KEY,
            "INSTANCE_PATH": str(CACHE / "instance"), "PYTHONPATH": path}  # fmt: skip


def start_workers(
    env: dict[str, str], count: int = WORKERS, *, logs: Path | None = None
) -> list[subprocess.Popen]:
    """``count`` ``kith worker`` processes, silent or each writing to ``logs/worker-N.log``."""
    workers = [
        _spawn([KITH, "worker"], env, logs and logs / f"worker-{number}.log")
        for number in range(1, count + 1)
    ]
    registered = Redis.from_url(REDIS_URL)
    deadline = time.monotonic() + 60
    while Worker.count(connection=registered) < count and time.monotonic() < deadline:
        time.sleep(0.1)  # each worker registers once it has started and is listening
    registered.close()
    return workers


def stop(processes: list[subprocess.Popen], grace: float = 3.0) -> None:
    """SIGTERM, then after ``grace`` seconds SIGKILL to the process and what it started (an
    RQ worker may sit out a warm shutdown; each process leads its own session)."""
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start_send(issue) -> tuple[int, int]:
    """Start sending ``issue`` to everyone and queue it for the workers: (send id, recipients)."""
    with transaction() as session:
        expected = sending.count_recipients(session, issue, "all")
        send_id = sending.start_send(session, issue, "all").id
    enqueue_send(send_id)
    return send_id, expected


def wait_for_send(send_id: int, expected: int, start: float, timeout: float = 3600.0) -> float:
    """Block until ``expected`` deliveries of the send are final; seconds since ``start``
    (a ``time.perf_counter()`` taken just before the send command)."""
    final = select(func.count()).select_from(Delivery)
    final = final.where(Delivery.send_id == send_id, Delivery.status.in_(FINAL_STATES))
    # Counted only once no row is pending: one index probe a poll, where counting the final
    # rows of a send of 100,000 took 25 ms four times a second from the cores being measured.
    pending = select(Delivery.id).where(
        Delivery.send_id == send_id, Delivery.status.in_(PENDING_STATES)
    )
    while time.perf_counter() - start < timeout:
        time.sleep(0.25)
        with transaction() as session:
            if session.scalar(pending.limit(1)) is None and session.scalar(final) >= expected:
                return time.perf_counter() - start
    raise SystemExit(f"send {send_id}: not done after {timeout:.0f} s")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mb(pid: int) -> float:
    """What ``pid`` holds in memory now (VmRSS), 0 when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_pids(pid: int) -> list[int]:
    """The processes ``pid`` started that are still running (gunicorn's workers, RQ's
    scheduler), from every thread's ``children`` list in /proc."""
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:  # the thread or the process ended meanwhile
            continue
    return sorted(children)


def _spawn(command: list[str], env: dict[str, str], log: Path | None) -> subprocess.Popen:
    """``command`` in this checkout, leading its own session, its output in ``log`` (appended)
    or discarded."""
    if log is None:
        return subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True, **QUIET)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:  # the child keeps its own descriptor
        return subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True,
                                stdout=output, stderr=subprocess.STDOUT)  # fmt: skip


def browse(base: str, method: str, path: str, cookies: dict[str, str] | None = None,
           form: dict[str, str] | None = None,
           headers: dict[str, str] | None = None) -> tuple[int, str]:  # fmt: skip
    """One request as a browser makes it, on a fresh connection (gunicorn's sync workers close
    each one): the status and body, with any cookies the response sets stored into
    ``cookies``. Raises OSError when the connection fails."""
    host = urlsplit(base)
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    headers = dict(headers or {})
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode()
        if cookies is not None:
            for header in response.headers.get_all("Set-Cookie") or []:
                cookies.update({key: morsel.value for key, morsel in SimpleCookie(header).items()})
        return response.status, text
    finally:
        connection.close()


@dataclass
class SignedIn:
    """A signed-in member as their browser holds them: cookies and the last form token."""

    tier: str
    cookies: dict[str, str]
    csrf: str = ""
    next_post: float = 0.0  # when they reply next (time.monotonic())


def sign_in_by_link(base: str, path: str) -> dict[str, str]:
    """A member's browser cookies after the magic-link pages: open the link, press the button
    (a GET never signs in: link scanners open links too)."""
    cookies: dict[str, str] = {}
    status, page = browse(base, "GET", path, cookies)
    token = CSRF_INPUT.search(page)
    if status != 200 or not token:
        raise SystemExit(f"sign-in page {path} answered {status}")
    status, _ = browse(base, "POST", path, cookies, {"csrf_token": token[1]})
    if status not in (302, 303):
        raise SystemExit(f"signing in answered {status}")
    return cookies


def start_gunicorn(env: dict[str, str], workers: int, threads: int,
                   logs: Path | None = None) -> tuple[subprocess.Popen, str]:  # fmt: skip
    """``wsgi:create_app()`` under gunicorn on a free loopback port, once it answers "/"."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker_class = ["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else []
    process = _spawn(
        [str(BIN / "gunicorn"), "--workers", str(workers), *worker_class,
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:create_app()"],
        {**env, "BASE_URL": base}, logs and logs / "gunicorn.log",
    )  # fmt: skip
    for _ in range(600):
        try:
            urllib.request.urlopen(base + "/", timeout=1).read()
            return process, base
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("gunicorn did not start")


def start_localstripe(*, latency: float = 0.0, key: str = "") -> tuple[subprocess.Popen, str]:
    """A fresh localstripe on a free port, once it listens: in memory, and ``latency``
    seconds (at most, each way) on requests made with ``key`` (see bench/localstripe_server.py)."""
    port = free_port()
    server = Path(__file__).resolve().parent / "localstripe_server.py"
    process = subprocess.Popen(
        [sys.executable, str(server), "--port", str(port), "--latency", str(latency),
         "--key", key],
        start_new_session=True, **QUIET,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("localstripe did not start")


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def progress(message: str, started: float = time.perf_counter()) -> None:
    """A timestamped line on stderr (seconds since this module was imported)."""
    print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)


def start_inbound(env: dict[str, str], logs: Path | None = None) -> tuple[subprocess.Popen, int]:
    """``kith inbound-smtp`` on a free loopback port, once it greets."""
    port = free_port()
    process = _spawn(
        [KITH, "inbound-smtp", "--port", str(port)], env, logs and logs / "inbound.log"
    )
    for _ in range(600):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                if probe.recv(3) == b"220":
                    return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("kith inbound-smtp did not start")
