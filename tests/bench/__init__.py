"""Smoke runs of the benchmarks: each script end to end with tiny numbers, against the
PostgreSQL and Redis servers the tests are given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
REDIS_URL = os.environ.get("TEST_REDIS_URL")


def needs_servers(what: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not (POSTGRES_URL and REDIS_URL),
        reason=f"{what} needs a PostgreSQL server and a Redis server "
        "(TEST_DATABASE_URL, TEST_REDIS_URL)",
    )


def run_bench(command: str, *, database: tuple[str, str], timeout: float = 120) -> str:
    """``bench/<command>`` (a script and its arguments) on a scratch database (its variable,
    its name) of the test server; its standard output, once it exited cleanly."""
    env = {
        **os.environ,
        "BENCH_POSTGRES_URL": POSTGRES_URL.rsplit("/", 1)[0] + "/postgres",
        database[0]: database[1],
        "BENCH_REDIS_URL": REDIS_URL,
    }
    script, *args = command.split()
    result = subprocess.run(
        [sys.executable, f"bench/{script}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout
