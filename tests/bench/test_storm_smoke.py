"""bench/storm.py end to end with tiny numbers: localstripe, gunicorn, PostgreSQL, Redis, two
workers sending to the SMTP sink, and signed Stripe events with duplicates and some held back.
Every answer is 2xx, every member's access equals what localstripe says, no deadlock."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
REDIS_URL = os.environ.get("TEST_REDIS_URL")

pytestmark = pytest.mark.skipif(
    not (POSTGRES_URL and REDIS_URL),
    reason="the Stripe storm needs a PostgreSQL server and a Redis server "
    "(TEST_DATABASE_URL, TEST_REDIS_URL)",
)


def figure(output: str, name: str) -> int:
    match = re.search(rf"^{re.escape(name)}\s+(\d+)", output, re.M)
    assert match, f"no {name!r} row in:\n{output}"
    return int(match[1])


def test_storm_benchmark_answers_2xx_and_ends_with_stripes_entitlements():
    env = {
        **os.environ,
        "BENCH_POSTGRES_URL": POSTGRES_URL.rsplit("/", 1)[0] + "/postgres",
        "BENCH_STORM_DATABASE": "kith_bench_storm_smoke",
        "BENCH_REDIS_URL": REDIS_URL,
    }
    command = [sys.executable, "bench/storm.py", "--events", "60", "--seconds", "10",
               "--members", "10", "--clients", "4", "--with-send", "200"]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout
    total = re.search(r"^all\s+60\s+(\d+)\s+(\d+)", output, re.M)
    assert total and int(total[1]) > 20 and int(total[2]) > 0, output  # applied, duplicate
    assert figure(output, "non-2xx answers") == 0, output
    assert figure(output, "entitlement mismatches") == 0, output
    assert figure(output, "deadlocks (pg_stat_database)") == 0, output
    recorded = re.search(r"^events Kith recorded\s+(\d+)\s+distinct handled events sent: (\d+)",
                         output, re.M)  # fmt: skip
    assert recorded and recorded[1] == recorded[2], output
    assert re.search(r"^send beside the storm\s+[\d,]+ messages/s", output, re.M), output
    assert "targets:" in output
