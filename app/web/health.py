"""``/healthz``: can this node serve? 503 without the database; the queue's state is reported.

A node whose Redis is down still serves every page; only mail waits, so that is a 200 with
``"queue": "unavailable"`` for monitoring to alert on, not a reason to take the node out.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.db import transaction
from app.queue import available

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    try:
        with transaction() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        log.exception("health check: database unavailable")
        return jsonify(status="error", database="unavailable"), 503
    return jsonify(status="ok", database="ok", queue="ok" if available() else "unavailable")
