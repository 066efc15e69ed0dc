"""Backup and restore mid-send (docs/deploy.md "Backups"): ``pg_dump`` a database whose send
is half done, lose the old host (its workers killed -9, its Redis gone), ``pg_restore`` into a
fresh database, start new workers on a new Redis: the send resumes from the database alone and
completes; nobody is mailed twice except a row that was in doubt, at most one per worker that
was killed with a message on the wire (docs/sending.md's in-doubt allowance).

PostgreSQL only (pg_dump/pg_restore); the databases ``ops_backup_*`` are created and dropped.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from app import create_app
from app.migrations import upgrade_database
from tests.conftest import POSTGRES_URL, SECRET
from tests.workers import Kith, RedisServer, _postgres_admin

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")
SLOW = 0.004  # seconds the sink takes per message, so the dump lands mid-send
MEMBERS = 400


def database(name: str) -> str:
    """A fresh, empty database next to the suite's; its libpq URL (pg_dump reads it too)."""
    _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _postgres_admin(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_URL.replace("+psycopg", "")).set(database=name)
    return url.render_as_string(hide_password=False)


@pytest.fixture
def databases() -> Iterator[tuple[str, str]]:
    names = ("ops_backup_source", "ops_backup_restored")
    yield tuple(database(name) for name in names)
    for name in names:
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_servers(tmp_path) -> Iterator[list[RedisServer]]:
    servers = [RedisServer(tmp_path), RedisServer(tmp_path)]
    yield servers
    for server in servers:
        server.stop()


def run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{command[0]} failed: {result.stderr}"


def test_a_send_dumped_mid_way_resumes_from_the_restored_database(
    databases, redis_servers, tmp_path
):
    source, restored = databases
    old_redis, new_redis = redis_servers
    migrate = create_app(
        {"database_url": source, "secret_key": SECRET, "instance_path": tmp_path / "migrate",
         "redis_url": "redis://unused"}
    )  # fmt: skip
    upgrade_database(migrate)
    migrate.extensions["kith.db"].engine.dispose()
    old_redis.start()
    dump = tmp_path / "kith.dump"

    with Kith.running(source, old_redis.url, tmp_path / "old-host") as old:
        old.smtp.delay = SLOW
        old.workers.start(2)
        emails = old.seed(MEMBERS)
        old.workers.wait_ready(old.redis_url, 2)
        send_id = old.start_send()
        old.wait_for_received(80)
        for worker in old.workers.started:  # the old host dies mid-batch
            old.workers.kill(worker, signal.SIGKILL)
        for worker in old.workers.started:
            worker.process.wait(timeout=10)
        at_dump = old.states(send_id)
        run("pg_dump", "--format=custom", f"--file={dump}", source)
        first_copies = old.smtp.counts()
    old_redis.stop()  # its queue is lost with it; the database alone must be enough

    assert 0 < at_dump["sent"] < MEMBERS, f"the dump was not mid-send: {dict(at_dump)}"
    waiting = at_dump["queued"] + at_dump["claimed"]
    assert waiting > 0, f"nothing left to send at the dump: {dict(at_dump)}"
    run("pg_restore", "--no-owner", f"--dbname={restored}", str(dump))

    new_redis.start()
    with Kith.running(restored, new_redis.url, tmp_path / "new-host") as new:
        new.workers.start(2)
        new.workers.wait_ready(new.redis_url, 2)
        new.wait_until_done(send_id, timeout=60)
        rows = new.deliveries(send_id)
        second_copies = new.smtp.counts()

    copies = first_copies + second_copies
    assert set(copies) == set(emails), "somebody got nothing, or a stranger got mail"
    assert max(copies.values()) <= 2, f"more than two copies: {copies.most_common(3)}"
    twice = {email for email, count in copies.items() if count > 1}
    doubted = {email for email, row in rows.items() if row.resent_after_doubt}
    assert twice <= doubted, f"second copies without a doubt first: {sorted(twice - doubted)}"
    assert len(doubted) <= at_dump["sending"] <= 2, "at most one doubt per killed worker"
    assert {row.status for row in rows.values()} == {"sent"}
    # What the restored database says went out is exactly what the new host then sent.
    assert sum(second_copies.values()) == MEMBERS - at_dump["sent"]
