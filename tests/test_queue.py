"""The job layer: Kith's embedded Redis, and `kith worker` working real jobs in its own process."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
from pathlib import Path

import redis

from app import embedded_redis
from app.members import service as members
from app.queue import enqueue
from tests.conftest import SECRET, close_app

KITH = str(Path(sys.executable).parent / "kith")


def test_embedded_redis_starts_once_is_shared_and_stops(tmp_path):
    url = embedded_redis.ensure_running(tmp_path)
    assert url.startswith("unix://") and embedded_redis.alive(url)
    started = list(embedded_redis._started)
    assert embedded_redis.ensure_running(tmp_path) == url  # a second caller reuses it
    assert embedded_redis._started == started
    embedded_redis.stop()
    assert not embedded_redis.alive(url)


def test_kith_worker_sends_a_queued_login_email_into_the_outbox(tmp_path, redis_url):
    """A real worker process (`kith worker --burst`) against a real database file and Redis."""
    from app import create_app
    from app.db import transaction
    from app.migrations import upgrade_database

    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/kith.db",
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET,
        "SMTP_URL": "",
        "BASE_URL": "http://kith.test",
        "INSTANCE_PATH": str(tmp_path / "instance"),
    }
    app = create_app(
        {
            "database_url": env["DATABASE_URL"],
            "redis_url": redis_url,
            "instance_path": tmp_path / "instance",
            "secret_key": SECRET,
        }
    )
    upgrade_database(app)
    with app.app_context():
        with transaction() as session:
            token = members.start_login(session, members.create_editor(session, "ed@example.com"))
            nonce = token.nonce
        enqueue("app.members.jobs.send_login_email", nonce, queue_name="mail")
    close_app(app)

    result = subprocess.run(
        [KITH, "worker", "--burst"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    outbox = list(mailbox.Maildir(tmp_path / "instance" / "outbox", create=False))
    assert len(outbox) == 1 and outbox[0]["To"] == "ed@example.com"
    assert "http://kith.test/login/" in outbox[0].get_payload(0).get_payload(decode=True).decode()


def test_jobs_now_and_later_keep_their_results_and_failures_for_a_bounded_time(app, redis):
    """A scheduled job (``at=``) expires like any other: RQ's defaults would keep a failure
    in Redis for a year (reliability L5: Redis stays flat however long Kith runs)."""
    from datetime import timedelta

    from rq.job import Job

    from app.db import utcnow

    with app.app_context():
        enqueue("app.sending.jobs.reconcile", job_id="now")
        enqueue("app.sending.jobs.reconcile", job_id="later", at=utcnow() + timedelta(hours=1))
    for job_id in ("now", "later"):
        job = Job.fetch(job_id, connection=redis)
        assert (job.result_ttl, job.failure_ttl) == (300, 7 * 24 * 3600), job_id
