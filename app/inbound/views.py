"""``POST /inbound/email``: bounces, complaints and mailed replies from an ESP's inbound
webhook or an MTA pipe.

The body is the raw RFC 5322 message (``Content-Type: message/rfc822`` or
``application/octet-stream``), authorized by ``Authorization: Bearer INBOUND_SECRET``. The
envelope recipient, which carries the token, comes from the ``to`` query parameter
(repeatable; ``+`` may be sent unencoded), else the ``X-Original-To`` request header; with
neither, Kith looks for the token in the message itself. A reply answers 201 when posted,
202 when ignored (an auto-reply) or already posted, 403 when it may not be posted and 429
when its member posts too fast. Unset ``INBOUND_SECRET`` means the webhook does not exist.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, abort, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.db import transaction
from app.inbound import service
from app.web.security import FORM_TYPES, csrf

bp = Blueprint("inbound", __name__)

HTTP_STATUS = {
    service.RECORDED: 202,
    service.UNSUBSCRIBED: 202,
    service.DUPLICATE: 202,
    service.IGNORED: 202,
    service.POSTED: 201,
    service.REJECTED: 403,
    service.RATE_LIMITED: 429,
    service.INVALID_ADDRESS: 422,
    service.UNKNOWN_RECIPIENT: 422,
    service.UNPARSABLE: 400,
    service.TOO_LARGE: 413,
}


@bp.post("/inbound/email")
@csrf.exempt
def email():
    settings = current_app.extensions["kith.settings"]
    if not settings.inbound_secret:
        abort(404)
    if not _bearer_matches(settings.inbound_secret):
        return _error(
            401, "Send Authorization: Bearer INBOUND_SECRET.", {"WWW-Authenticate": "Bearer"}
        )
    if request.mimetype in FORM_TYPES:
        return _error(415, "Send the raw message as the body (message/rfc822), not a form.")
    request.max_content_length = service.MAX_MESSAGE_BYTES  # above the site-wide form limit
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return _error(413, f"Messages above {service.MAX_MESSAGE_BYTES // 2**20} MB are refused.")
    recipients = _envelope_recipients()
    with transaction(immediate=True) as session:
        outcome = service.receive(session, settings, raw, recipients)
    service.after_commit(outcome)
    return jsonify(outcome.as_dict()), HTTP_STATUS[outcome.status]


def _envelope_recipients() -> list[str]:
    """``to`` query values, else ``X-Original-To``. An unencoded ``+`` in a query string reads
    as a space, and an address has no bare spaces, so a space is put back as the ``+``."""
    given = request.args.getlist("to") or request.headers.getlist("X-Original-To")
    return [value.strip().replace(" ", "+") for value in given]


def _bearer_matches(secret: str) -> bool:
    """Constant-time comparison, so the secret cannot be guessed byte by byte from timings."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    given = token.strip().encode() if scheme.lower() == "bearer" else b""
    return hmac.compare_digest(given, secret.encode())


def _error(status: int, detail: str, headers: dict[str, str] | None = None):
    return jsonify({"status": "error", "detail": detail}), status, headers or {}
