"""``GET /metrics`` for Prometheus, behind ``Authorization: Bearer $METRICS_TOKEN``.

Without a token configured the endpoint does not exist (404): a node behind a proxy cannot
tell a scraper on the same host from a stranger, so "loopback only" would not be safe.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST

from app.ops import metrics

bp = Blueprint("ops", __name__)


@bp.get("/metrics")
def scrape():
    token = current_app.extensions["kith.settings"].metrics_token
    if not token:
        abort(404)
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return Response(
            "metrics: a valid bearer token is required\n",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return Response(metrics.scrape(), mimetype=CONTENT_TYPE_LATEST.split(";")[0])
