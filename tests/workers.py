"""Harness for the sending fault tests: a committed database, real ``kith worker`` processes,
a private Redis server to restart, and deadlines instead of sleeps.

The rest of the suite runs each test in a rolled-back transaction; workers in other processes
cannot see such rows, so these tests commit for real, to a database of their own (a file for
SQLite, ``<TEST_DATABASE_URL's name>_faults`` for PostgreSQL) that is emptied between tests.
Workers run in their own session (process group), so a kill reaches them and nothing else,
and teardown kills whatever is left: no test leaves a worker behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis as redis_lib
from flask import Flask
from rq import Worker
from sqlalchemy import create_engine, delete, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app import create_app, embedded_redis
from app.db import normalize_url
from app.issues import service as issues
from app.issues.models import Issue
from app.members.models import Member
from app.migrations import all_models, upgrade_database
from app.sending import service as sending
from app.sending.jobs import enqueue_send
from app.sending.models import Delivery, Send
from tests.conftest import POSTGRES_URL, SECRET, close_app
from tests.smtp_sink import SMTPSink
from tests.test_up import free_port

KITH = str(Path(sys.executable).parent / "kith")
ROOT = Path(__file__).resolve().parent.parent

# Short enough that each scenario's repairs happen within seconds.
KNOBS = {
    "SEND_LEASE_SECONDS": "2",
    "WORKER_MAINTENANCE_SECONDS": "1",
    "SEND_RETRY_SECONDS": "0.25",
    "SEND_RATE": "0",
}
RQ_NOISE = ("cleaning registries", "result is kept", "Successfully completed")
SMTP_TIMEOUT = 1.0  # the workers' SMTP client gives up on a silent server after this long


def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    what: str | Callable[[], str],
    step: float = 0.05,
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` if late
    (a callable ``what`` describes the state at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting for {described}")
        time.sleep(step)


# --- the committed database ------------------------------------------------------------


def _postgres_url(suffix: str) -> str:
    url = make_url(normalize_url(POSTGRES_URL))
    return url.set(database=f"{url.database}_{suffix}").render_as_string(hide_password=False)


def _postgres_admin(statement: str) -> None:
    """CREATE/DROP DATABASE run outside a transaction, from the suite's own database."""
    engine = create_engine(normalize_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(statement))
    engine.dispose()


def create_database(backend: str, directory: Path, *, suffix: str = "faults") -> str:
    """A migrated database for one test module, and its URL (on PostgreSQL, the suite's
    database name with ``_{suffix}`` added)."""
    if backend == "sqlite":
        url = f"sqlite:///{directory}/{suffix}.db"
    else:
        url = _postgres_url(suffix)
        name = make_url(url).database
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _postgres_admin(f'CREATE DATABASE "{name}"')
    return migrate(url, directory)


def migrate(url: str, directory: Path) -> str:
    """Bring the empty database at ``url`` to the current schema; returns ``url``."""
    app = create_app(
        {"database_url": url, "instance_path": directory / "migrate", "secret_key": SECRET,
         "redis_url": "redis://unused"}
    )  # fmt: skip
    upgrade_database(app)
    app.extensions["kith.db"].engine.dispose()
    return url


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        _postgres_admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def wipe(app: Flask) -> None:
    """Delete every row (children first), so each test starts from an empty schema."""
    with app.extensions["kith.db"].transaction() as session:
        for table in reversed(all_models().sorted_tables):
            session.execute(delete(table))


def _pythonpath() -> str:
    """This checkout first: the ``kith`` script would otherwise import wherever the venv's
    editable install points, which may be another checkout."""
    return os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


# --- worker processes --------------------------------------------------------------------


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def send_signal(self, number: int) -> None:
        """Signal the worker's whole process group (it runs in a session of its own), so
        RQ's scheduler process goes too, even when the worker itself has already exited."""
        with suppress(ProcessLookupError):
            os.killpg(self.pid, number)

    def tail(self, lines: int = 60) -> str:
        """The end of the worker's output, without RQ's routine chatter."""
        output = self.log.read_text(errors="replace") if self.log.exists() else ""
        kept = [line for line in output.splitlines() if not any(n in line for n in RQ_NOISE)]
        return "\n".join(kept[-lines:])


@dataclass
class Workers:
    """``kith worker`` processes started with one environment; all killed at ``close``."""

    env: dict[str, str]
    directory: Path
    started: list[WorkerProcess] = field(default_factory=list)

    def start(self, count: int = 1) -> list[WorkerProcess]:
        new = []
        for _ in range(count):
            log = self.directory / f"worker-{len(self.started) + 1}.log"
            with open(log, "wb") as output:
                process = subprocess.Popen(
                    [KITH, "worker"], env=self.env, cwd=ROOT, stdout=output,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            worker = WorkerProcess(process, log)
            self.started.append(worker)
            new.append(worker)
        return new

    def registered(self, redis_url: str) -> int:
        """How many workers Redis knows (each registers once its app is built)."""
        with redis_lib.Redis.from_url(redis_url) as client:
            return Worker.count(connection=client)

    def busy(self, redis_url: str) -> WorkerProcess | None:
        """A live worker that RQ reports in the middle of a job, if any."""
        with redis_lib.Redis.from_url(redis_url) as client:
            pids = {w.pid for w in Worker.all(connection=client) if w.get_state() == "busy"}
        return next((w for w in self.started if w.pid in pids and w.alive()), None)

    def wait_ready(self, redis_url: str, count: int, timeout: float = 20) -> None:
        wait_until(
            lambda: self.registered(redis_url) >= count or self._died(),
            timeout=timeout,
            what=f"{count} workers to register",
        )
        assert not self._died(), "a worker exited at start-up:\n" + self.logs()

    def _died(self) -> bool:
        return any(not worker.alive() for worker in self.started)

    def kill(self, worker: WorkerProcess, number: int = signal.SIGKILL) -> None:
        worker.send_signal(number)

    def close(self) -> None:
        """SIGKILL every worker still running and reap it: no orphan outlives the test."""
        for worker in self.started:
            worker.send_signal(signal.SIGKILL)
        for worker in self.started:
            worker.process.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(
            f"--- worker {n} (pid {w.pid}, exit {w.process.poll()}) ---\n{w.tail()}"
            for n, w in enumerate(self.started, 1)
        )


# --- a private Redis server, to restart mid-send --------------------------------------------


@dataclass
class RedisServer:
    """A ``redis-server`` of our own on a free port: without persistence (F9a), or with
    ``appendonly`` (``persistent``, F9b), each write fsynced to the AOF in ``directory``
    before Redis answers it, so a SIGKILL loses nothing that was acknowledged."""

    directory: Path
    persistent: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (again, on the same port and directory: a persistent one reloads its AOF)."""
        aof = ["yes", "--appendfsync", "always"] if self.persistent else ["no"]
        self.process = subprocess.Popen(
            [embedded_redis.redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", *aof, "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_until(lambda: embedded_redis.alive(self.url), timeout=10, what="redis-server")

    def stop(self) -> None:
        """SIGKILL, like a crash: all is lost without persistence; with it, only what the
        AOF holds comes back."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


# --- one scenario: database, Redis, sink, workers, and what to read back ---------------------


@dataclass
class Kith:
    """Everything a fault scenario touches, and the questions its assertions ask."""

    app: Flask
    database_url: str
    redis_url: str
    smtp: SMTPSink
    workers: Workers

    @classmethod
    @contextmanager
    def running(
        cls, database_url: str, redis_url: str, directory: Path, *, maildir: bool = False
    ) -> Iterator[Kith]:
        """``maildir``: no SMTP server configured, so mail goes to the instance's outbox."""
        with SMTPSink() as smtp:
            smtp_url = "" if maildir else f"{smtp.url}?timeout={SMTP_TIMEOUT:g}"
            app = create_app(
                {"database_url": database_url, "redis_url": redis_url, "smtp_url": smtp_url,
                 "secret_key": SECRET, "base_url": "http://kith.test",
                 "instance_path": directory / "instance", "page_cache_seconds": 0,
                 "RATELIMIT_STORAGE_URI": "memory://"}
            )  # fmt: skip
            env = {**os.environ, **KNOBS, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                   "SMTP_URL": smtp_url, "SECRET_KEY": SECRET, "BASE_URL": "http://kith.test",
                   "INSTANCE_PATH": str(directory / "instance"),
                   "PYTHONPATH": _pythonpath()}  # fmt: skip
            kith = cls(app, database_url, redis_url, smtp, Workers(env, directory))
            try:
                yield kith
            finally:
                kith.workers.close()
                close_app(app)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Immediate: workers write all the time, and SQLite refuses a read-then-write
        transaction that another process wrote under (see Database.transaction)."""
        with self.app.extensions["kith.db"].transaction(immediate=True) as session:
            yield session

    def seed(self, count: int) -> list[str]:
        """An issue and ``count`` active members, committed; their addresses in id order."""
        emails = [f"reader{n:04d}@example.com" for n in range(count)]
        with self.transaction() as session:
            session.execute(
                insert(Member), [{"email": e, "name": f"Reader {e[6:10]}", "status": "active",
                                  "source": "import"} for e in emails]
            )  # fmt: skip
            issue = issues.save_issue(
                session, {"title": "Fault lines", "excerpt": "Tested the hard way.",
                          "body_markdown": "## Faults\n\nEvery one of them, on purpose."}
            )  # fmt: skip
            issues.publish(session, issue)
        return emails

    def start_send(self, expression: str = "all") -> int:
        """Start a send of the seeded issue and queue its jobs after the commit, as `kith send`."""
        with self.app.app_context():
            with self.transaction() as session:
                issue = session.scalars(select(Issue)).one()
                send_id = sending.start_send(session, issue, expression).id
            enqueue_send(send_id)
        return send_id

    def deliveries(self, send_id: int) -> dict[str, Delivery]:
        """Each recipient's delivery row, by address."""
        with self.transaction() as session:
            rows = session.execute(
                select(Member.email, Delivery)
                .join(Member, Member.id == Delivery.member_id)
                .where(Delivery.send_id == send_id)
            ).all()
        return {email: delivery for email, delivery in rows}

    def states(self, send_id: int) -> Counter[str]:
        with self.transaction() as session:
            rows = session.execute(
                select(Delivery.status, func.count())
                .where(Delivery.send_id == send_id)
                .group_by(Delivery.status)
            ).all()
        return Counter(dict(rows))

    def send(self, send_id: int) -> Send:
        with self.transaction() as session:
            return session.get(Send, send_id)

    def member_statuses(self, emails: list[str]) -> dict[str, str]:
        with self.transaction() as session:
            rows = session.execute(
                select(Member.email, Member.status).where(Member.email.in_(emails))
            ).all()
        return dict(rows)

    def wait_for_received(self, count: int, timeout: float = 20) -> None:
        wait_until(
            lambda: len(self.smtp.received) >= count,
            timeout=timeout,
            what=lambda: f"{count} messages at the sink (got {len(self.smtp.received)})",
        )

    def wait_until_done(self, send_id: int, timeout: float = 20) -> Send:
        """Wait until the send is ``done``; the failure names its state and the rows'."""

        def state() -> str:
            send = self.send(send_id)
            return (
                f"send {send_id} to finish: it is {send.status!r} ({send.paused_reason!r}); "
                f"rows {dict(self.states(send_id))}; the sink has {len(self.smtp.received)}"
            )

        return wait_until(
            lambda: (send := self.send(send_id)).status == "done" and send,
            timeout=timeout,
            what=state,
            step=0.2,
        )
