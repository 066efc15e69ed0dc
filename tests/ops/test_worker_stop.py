"""An idle ``kith worker`` stops on SIGTERM (systemd's stop), instead of restarting itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from rq import Worker

from app import create_app
from app.migrations import upgrade_database
from tests.conftest import SECRET
from tests.workers import wait_until

ROOT = Path(__file__).resolve().parents[2]


def test_an_idle_worker_exits_cleanly_on_sigterm(redis_url, redis, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": redis_url, "SECRET_KEY": SECRET,
           "DATABASE_URL": f"sqlite:///{tmp_path}/kith.db", "WORKER_MAINTENANCE_SECONDS": "1",
           "INSTANCE_PATH": str(tmp_path / "instance")}  # fmt: skip
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
        os.killpg(process.pid, signal.SIGTERM)
        wait_until(lambda: process.poll() is not None, timeout=15, what=log.read_text)
        assert process.returncode == 0, log.read_text()
        assert "restarting" not in log.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
