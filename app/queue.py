"""Background work on RQ: the Redis connection, enqueueing, and the non-forking worker.

Redis holds work to do, never facts. Jobs take ids, re-read their rows and are idempotent,
so a job run twice (RQ re-runs abandoned jobs) or lost with Redis changes nothing: the
database decides. Jobs are serialized as JSON, never pickle.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import wraps
from typing import Any

import redis
from flask import Flask, current_app
from rq import Queue, Retry, SimpleWorker
from rq.exceptions import StopRequested
from rq.serializers import JSONSerializer

from app import embedded_redis
from app.ops import logs

# Workers take jobs from the first queue that has one: sign-in links and confirmations first,
# then conversation mail (reply notifications, digests), then issue sends.
QUEUES = ("mail", "notify", "send", "default")
WAITING_SECONDS = 120  # how long "a run is waiting" holds if its job is lost without Redis

log = logging.getLogger(__name__)


def init_app(app: Flask, redis_url: str | None) -> None:
    app.extensions["kith.redis_url"] = redis_url
    app.extensions["kith.redis_embedded"] = not redis_url


def redis_url(app: Flask | None = None) -> str:
    """The configured Redis, or the embedded one (started on first use)."""
    app = app or current_app
    url = app.extensions.get("kith.redis_url")
    if not url:
        url = embedded_redis.ensure_running(app.extensions["kith.settings"].instance_path)
        app.extensions["kith.redis_url"] = url
    return url


def connection(app: Flask | None = None) -> redis.Redis:
    app = app or current_app
    if "kith.redis" not in app.extensions:
        app.extensions["kith.redis"] = redis.Redis.from_url(redis_url(app))
    return app.extensions["kith.redis"]


def close(app: Flask) -> None:
    """Close the app's Redis client, if it made one: an app dropped without it leaks a socket."""
    client = app.extensions.pop("kith.redis", None)
    if client is not None:
        client.close()


def queue(name: str = "default", app: Flask | None = None) -> Queue:
    return Queue(name, connection=connection(app), serializer=JSONSerializer)


def job(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an RQ entry point: each run gets a fresh app context (its own ``flask.g``).

    The worker holds the app; a job only takes ids and calls services in its own transaction.
    """

    @wraps(func)
    def run(*args: Any, **kwargs: Any) -> Any:
        with current_app.app_context(), logs.job_context(func, args, kwargs):
            return func(*args, **kwargs)

    return run


def _forget_embedded(app: Flask) -> bool:
    """After a connection error on the embedded Redis, forget it so the next use restarts it.

    Whichever local process started it stops it when it exits; the others must not be left
    holding a dead connection.
    """
    if not app.extensions.get("kith.redis_embedded"):
        return False
    close(app)
    app.extensions["kith.redis_url"] = None
    return True


def enqueue(
    func: Callable[..., Any] | str,
    *args: Any,
    queue_name: str = "default",
    job_id: str | None = None,
    retry: Retry | None = None,
    at: datetime | None = None,
) -> None:
    """Put a job on a queue. Call it after the transaction that made its rows has committed."""
    # Results and failures expire (RQ's own defaults keep a failure for a year): Redis holds
    # work to do, not history, and stays flat however long Kith runs.
    options = {"job_id": job_id, "retry": retry, "result_ttl": 300, "failure_ttl": 7 * 24 * 3600}

    def put() -> None:
        if at is not None:  # the worker's scheduler moves it to the queue when due
            queue(queue_name).enqueue_at(at, func, *args, **options)
        else:
            queue(queue_name).enqueue_call(func, args=args, **options)

    _reconnecting(put)


def _reconnecting(action: Callable[[], Any]) -> Any:
    """Run ``action``; once more after restarting an embedded Redis that went away."""
    try:
        return action()
    except redis.ConnectionError:
        if not _forget_embedded(current_app._get_current_object()):
            raise
        return action()


def available() -> bool:
    """Whether jobs can be queued right now (a quick ping, restarting the embedded Redis)."""
    for _ in range(2):
        try:
            return bool(connection().ping())
        except (
            redis.ConnectionError,
            redis.TimeoutError,
            OSError,
            embedded_redis.EmbeddedRedisError,
        ):
            if not _forget_embedded(current_app._get_current_object()):
                return False
    return False


MAIL_RETRY = Retry(max=3, interval=[10, 60, 300])  # a mail job fails for good after 3 tries


def enqueue_mail(func: str, *args: Any, job_id: str | None = None) -> bool:
    """Queue a transactional email, retried with backoff; False (logged) if Redis is down.

    The rows the job reads are already committed, so a caller can tell the reader to try
    again rather than fail the request.
    """
    return _queued(
        func, lambda: enqueue(func, *args, queue_name="mail", job_id=job_id, retry=MAIL_RETRY)
    )


def enqueue_once(func: str, *, queue_name: str) -> bool:
    """Queue a run of ``func`` (a job that works through whatever is due in the database)
    unless one is waiting already: a burst of callers, as every reply asking for its
    notifications, costs one job, not one each, and a backlog never fills a queue.

    The job calls ``started(func)`` first, so what is committed after that gets a new run.
    False (logged) if Redis is down; the caller's maintenance task queues it later.
    """
    waiting = _waiting_key(func)

    def put() -> None:
        if connection().set(waiting, 1, nx=True, ex=WAITING_SECONDS):
            try:
                enqueue(func, queue_name=queue_name, retry=MAIL_RETRY)
            except Exception:
                connection().delete(waiting)
                raise

    return _queued(func, lambda: _reconnecting(put))


def _queued(func: str, put: Callable[[], Any]) -> bool:
    """Run ``put``; False, logged, when Redis cannot be reached."""
    try:
        put()
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        log.exception("could not queue %s", func)
        return False
    return True


def started(func: str) -> None:
    """Called first by a job queued with ``enqueue_once``: the next call queues another run."""
    connection().delete(_waiting_key(func))


def _waiting_key(func: str) -> str:
    return f"kith:waiting:{func}"


RESTART_WAIT_SECONDS = 1.0


class KithWorker(SimpleWorker):
    """A non-forking worker that also runs Kith's maintenance with RQ's: the send reconciler
    (work Redis lost is found again in the database) and the end of lapsed memberships."""

    # RQ records a stop request only when it arrives mid-job; an idle worker just raises
    # StopRequested out of work(), which run_worker must not mistake for a lost Redis.
    stop_requested = False

    def request_stop(self, signum, frame) -> None:
        self.stop_requested = True
        super().request_stop(signum, frame)

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        for task in current_app.extensions["kith.maintenance"]:
            try:
                task()
            except StopRequested:  # SIGTERM arrived during the task: a stop, not a failure
                raise
            except Exception as error:  # noqa: BLE001 - maintenance must never stop the worker
                if self.stop_requested:  # the signal's StopRequested, wrapped by a library
                    raise StopRequested() from error
                log.exception("maintenance task %s failed", task.__name__)
            if self.stop_requested:
                raise StopRequested()


def lower_priority(nice: float) -> None:
    """Yield the CPU to the web: a reader waiting for a page matters more than a send finishing
    a few seconds sooner, and a send still takes every cycle the pages leave idle. Capped at
    Unix's 19; a worker already at or past ``nice`` stays where it is."""
    target = min(19, int(nice))
    current = os.nice(0)
    if target > current:
        os.nice(target - current)


def run_worker(
    app: Flask, *, queues: Sequence[str] = QUEUES, burst: bool = False, name: str | None = None
) -> None:
    """Work the queues inside one app context, without forking per job.

    A forking worker costs a process per job (about 30 jobs/s here); ``SimpleWorker`` runs
    them in-process (about 300/s). The engine pool is discarded first in case this process
    was forked from one that had connections open.
    """
    app.extensions["kith.db"].engine.dispose(close=False)
    settings = app.extensions["kith.settings"]
    if not burst:  # a long-running worker shares the host with the web; a burst drains and ends
        lower_priority(settings.worker_nice)
    maintenance = max(1, round(settings.worker_maintenance_seconds))
    with app.app_context():
        while True:
            worker = KithWorker(
                [queue(name, app) for name in queues],
                connection=connection(app),
                serializer=JSONSerializer,
                name=name or f"kith-{os.uname().nodename}-{os.getpid()}-{time.monotonic_ns()}",
                maintenance_interval=maintenance,
                # An idle worker blocks on Redis for worker_ttl - 15 s; keep that to the
                # maintenance interval so the reconciler also runs when no job arrives.
                worker_ttl=maintenance + 15,
            )
            try:
                worker.work(
                    burst=burst,
                    with_scheduler=True,
                    logging_level="INFO" if not burst else "WARNING",
                )
            except (redis.ConnectionError, redis.TimeoutError):
                log.warning("lost Redis while starting; trying again", exc_info=True)
            if burst or worker.stop_requested or getattr(worker, "_stop_requested", False):
                return
            # RQ gives up when Redis goes away (a restart, a failover): a worker must not.
            # What Redis lost, the reconciler finds again in the database.
            log.warning("the worker stopped without being asked to (Redis lost?); restarting")
            time.sleep(RESTART_WAIT_SECONDS)
