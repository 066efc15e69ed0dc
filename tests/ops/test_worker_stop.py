"""A long-running ``kith worker``: it stops on SIGTERM (systemd's stop) instead of restarting
itself, and it runs at a lower CPU priority than the web so that pages stay fast during a send."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rq import Worker

from app import create_app
from app.migrations import upgrade_database
from tests.conftest import SECRET
from tests.workers import wait_until

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running_worker(redis_url, redis, tmp_path, **extra_env: str) -> Iterator[tuple]:
    """``kith worker`` on a fresh SQLite database, registered and through its first loop;
    yields the process and its log file, and kills it afterwards if it still runs."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": redis_url, "SECRET_KEY": SECRET,
           "DATABASE_URL": f"sqlite:///{tmp_path}/kith.db", "WORKER_MAINTENANCE_SECONDS": "1",
           "INSTANCE_PATH": str(tmp_path / "instance"), **extra_env}  # fmt: skip
    if "WORKER_NICE" not in extra_env:
        env.pop("WORKER_NICE", None)  # the default, unless a test sets it
    app = create_app({"database_url": env["DATABASE_URL"], "instance_path": tmp_path / "m"})
    upgrade_database(app)
    app.extensions["kith.db"].engine.dispose()
    log = tmp_path / "worker.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", "from app.cli import main; main()", "worker"], env=env,
            cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        # RQ takes signals over after registering; its first maintenance run comes after.
        wait_until(lambda: Worker.count(connection=redis) >= 1, timeout=30, what="the worker")
        wait_until(lambda: "cleaning registries" in log.read_text(), timeout=30, what="its loop")
        yield process, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def test_an_idle_worker_exits_cleanly_on_sigterm(redis_url, redis, tmp_path):
    with running_worker(redis_url, redis, tmp_path) as (process, log):
        os.killpg(process.pid, signal.SIGTERM)
        wait_until(lambda: process.poll() is not None, timeout=15, what=log.read_text)
        assert process.returncode == 0, log.read_text()
        assert "restarting" not in log.read_text()


@pytest.mark.parametrize(("setting", "lowered_by"), [(None, 10), ("4", 4), ("0", 0), ("40", 19)])
def test_a_worker_yields_the_cpu_to_the_web(redis_url, redis, tmp_path, setting, lowered_by):
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    extra = {} if setting is None else {"WORKER_NICE": setting}
    with running_worker(redis_url, redis, tmp_path, **extra) as (process, _):
        worker = os.getpriority(os.PRIO_PROCESS, process.pid)
    assert worker == min(19, max(ours, lowered_by))
