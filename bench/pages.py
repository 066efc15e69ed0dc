"""Requests/s and p99 latency of public pages under gunicorn, beside a bare Flask route.

Kith (demo content plus 60 issues) and a bare Flask app returning the very same bytes run
under gunicorn with sync workers = cores; wrk drives each for 10 s with 8 connections on
loopback. Prints each page's rate and p99 and its ratio to the bare route in the same run.
Targets: ratio ≥ 0.85 and p99 ≤ 10 ms. Needs wrk (apt-get install wrk).
Run: .venv/bin/python bench/pages.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PATHS = ["/issues/hydration-without-fear", "/archive", "/feed.xml"]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def seed(instance: Path) -> dict[str, str]:
    from app import create_app
    from app.db import transaction, utcnow
    from app.issues import content, service
    from app.migrations import upgrade_database

    env = {
        "DATABASE_URL": f"sqlite:///{instance}/kith.db",
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": "bench-secret-key-bench-secret-key",
        "BASE_URL": "http://127.0.0.1",
    }
    app = create_app({"database_url": env["DATABASE_URL"], "instance_path": instance,
                      "secret_key": env["SECRET_KEY"]})  # fmt: skip
    upgrade_database(app)
    with app.app_context(), transaction() as session:
        content.sync_directory(session, ROOT / "content")
        for number in range(60):
            issue = service.save_issue(session, {"title": f"Bake-off notes {number}",
                                                 "excerpt": "What the kitchens saw.",
                                                 "body_markdown": "Words. " * 800})  # fmt: skip
            service.publish(session, issue, at=utcnow() - timedelta(days=60 + number))
    app.extensions["kith.db"].engine.dispose()
    return env


def serve(app_spec: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "--workers", str(os.cpu_count() or 2), "--worker-class", "sync",
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", app_spec],
        cwd=ROOT, env={**os.environ, **env},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(base + PATHS[0], timeout=1).read()
            return process, base
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"{app_spec} did not start")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)


def wrk(url: str, seconds: int) -> tuple[float, float, int]:
    """Requests/s, p99 in ms, and non-2xx/socket errors from one bounded wrk run."""
    out = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(map(int, sockets.groups())) if sockets else 0
    )
    return rate, p99, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    with tempfile.TemporaryDirectory() as temp:
        env = seed(Path(temp))
        kith, kith_base = serve("wsgi:create_app()", env)
        try:
            pages = {}
            for path in PATHS:
                with urllib.request.urlopen(kith_base + path) as response:
                    pages[path] = [response.read().decode(), response.headers["Content-Type"]]
            kith_figures = {path: wrk(kith_base + path, args.seconds) for path in PATHS}
        finally:
            stop(kith)
        bare_pages = Path(temp) / "pages.json"
        bare_pages.write_text(json.dumps(pages))
        bare, bare_base = serve("bench.bare_app:create_app()", {"BARE_PAGES": str(bare_pages)})
        try:
            bare_figures = {path: wrk(bare_base + path, args.seconds) for path in PATHS}
        finally:
            stop(bare)
    print(f"gunicorn sync workers = {os.cpu_count()}, wrk 8 connections, {args.seconds} s per page")
    for path in PATHS:
        rate, p99, errors = kith_figures[path]
        bare_rate, bare_p99, _ = bare_figures[path]
        print(
            f"{path:32} {rate:8.0f} req/s  p99 {p99:5.2f} ms  errors {errors}  | bare route "
            f"{bare_rate:8.0f} req/s  p99 {bare_p99:5.2f} ms  | ratio {rate / bare_rate:.2f}×"
        )


if __name__ == "__main__":
    main()
