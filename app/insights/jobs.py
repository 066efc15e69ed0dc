"""Maintenance: keep the audience rollup and the engagement scores fresh.

Every worker runs ``maintain`` each WORKER_MAINTENANCE_SECONDS; a conditional UPDATE of the
``insight_runs`` row lets one of them recompute per ``EVERY`` and the rest return at once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import transaction, utcnow
from app.insights import engagement, growth, tracking
from app.insights.models import InsightRun

EVERY = timedelta(hours=1)
CLAIM = "maintenance"
log = logging.getLogger(__name__)


def claim(session: Session, name: str, every: timedelta, *, now: datetime | None = None) -> bool:
    """True for the one caller per ``every`` that should run ``name`` now."""
    now = now or utcnow()
    moved = session.execute(
        update(InsightRun)
        .where(InsightRun.name == name, InsightRun.ran_at <= now - every)
        .values(ran_at=now)
    ).rowcount
    if moved:
        return True
    if session.get(InsightRun, name) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(InsightRun(name=name, ran_at=now))
    except IntegrityError:
        return False  # another worker claimed the first run
    return True


def refresh(session: Session, *, days: int = growth.ROLLUP_DAYS) -> tuple[int, int]:
    """Recompute the rollup (``days`` back) and every score now: (rollup rows, members scored)."""
    rows = growth.rollup(session, days=days)
    scored = engagement.recompute(session, counting=tracking.enabled(session))
    return rows, scored


def maintain() -> bool:
    """The maintenance task: refresh when this worker's claim wins; False otherwise."""
    with transaction(immediate=True) as session:
        if not claim(session, CLAIM, EVERY):
            return False
    with transaction(immediate=True) as session:
        rows, scored = refresh(session)
    log.info("insights: %d rollup rows, %d members scored", rows, scored)
    return True
