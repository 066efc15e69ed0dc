"""Web reads: views of an issue's page, counted per issue per day without a write per view.

Each web process adds views up in memory and writes them as one batched upsert
(``issue_read_days``) at most every ``flush_seconds``, when a view arrives after that
interval, and when the process exits. Views served from the page cache (which never reach
the view) are counted by the cache middleware: a cached issue page carries its issue's id.
A process killed with ``kill -9`` loses at most its last few seconds of counts.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import Counter
from datetime import date

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.db import Database, utcnow
from app.insights.models import IssueReadDay
from app.issues.models import Issue
from app.upserts import upsert

EXTENSION = "kith.read_counter"
ENVIRON_KEY = "kith.read_issue"  # set by the issue view; the page cache stores it with the page
DEFAULT_FLUSH_SECONDS = 5.0
log = logging.getLogger(__name__)
_counters: weakref.WeakSet[ReadCounter] = weakref.WeakSet()


class ReadCounter:
    """One process's unwritten views, keyed by (issue id, UTC day)."""

    def __init__(self, database: Database, flush_seconds: float = DEFAULT_FLUSH_SECONDS):
        self.database = database
        self.flush_seconds = flush_seconds
        self._pending: Counter[tuple[int, date]] = Counter()
        self._lock = threading.Lock()
        self._flushed_at = time.monotonic()
        _counters.add(self)

    def add(self, issue_id: int) -> None:
        with self._lock:
            self._pending[(issue_id, utcnow().date())] += 1
            due = time.monotonic() - self._flushed_at >= self.flush_seconds
        if due:
            self.flush()

    def flush(self) -> int:
        """Write what is pending in one statement; returns how many views it wrote. If the
        database cannot take them now, they stay pending for the next flush."""
        with self._lock:
            pending, self._pending = self._pending, Counter()
            self._flushed_at = time.monotonic()
        if not pending:
            return 0
        rows = [
            {"issue_id": issue_id, "day": day, "reads": reads}
            for (issue_id, day), reads in sorted(pending.items())
        ]
        table = IssueReadDay.__table__
        try:
            with self.database.transaction(immediate=True) as session:
                ids = {row["issue_id"] for row in rows}
                live = set(session.scalars(select(Issue.id).where(Issue.id.in_(ids))))
                rows = [row for row in rows if row["issue_id"] in live]  # deleted meanwhile
                upsert(
                    session,
                    table,
                    rows,
                    keys=["issue_id", "day"],
                    changes=lambda new: {"reads": table.c.reads + new.reads},
                )
        except SQLAlchemyError:  # the database is away: try again next time
            log.warning("web reads: could not write %d views; keeping them", sum(pending.values()))
            with self._lock:
                self._pending.update(pending)
            return 0
        return sum(row["reads"] for row in rows)


def init_app(app: Flask) -> ReadCounter:
    seconds = float(app.config.get("INSIGHTS_READS_FLUSH_SECONDS", DEFAULT_FLUSH_SECONDS))
    counter = ReadCounter(app.extensions["kith.db"], seconds)
    app.extensions[EXTENSION] = counter
    return counter


def counter() -> ReadCounter:
    return current_app.extensions[EXTENSION]


@atexit.register
def _flush_all() -> None:
    for each in list(_counters):
        try:
            each.flush()
        except Exception:  # noqa: BLE001 - at exit, losing a few counts beats a traceback
            log.warning("web reads: flush at exit failed", exc_info=True)
