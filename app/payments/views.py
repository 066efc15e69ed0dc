"""Upgrade, billing and Stripe's webhook: parse, call the payments service, respond."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, redirect, render_template, request
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from app.config import Settings
from app.db import transaction
from app.issues import service as issues
from app.members.models import Member
from app.payments import gateway, service
from app.payments.gateway import Gateway, GatewayError, InvalidEvent, verify_event
from app.web.forms import ButtonForm
from app.web.security import csrf

log = logging.getLogger(__name__)

bp = Blueprint("payments", __name__)

UNAVAILABLE = "Paid membership is not available."
STRIPE_DOWN = "We could not reach our payment provider. Nothing was charged; please try again."


def _settings() -> Settings:
    return current_app.extensions["kith.settings"]


def _gateway() -> Gateway:
    if not _settings().stripe_secret_key:
        raise service.PaymentsUnavailable(UNAVAILABLE)
    return gateway.for_app(current_app)


def _problem(message: str, status: int):
    return render_template("payments/problem.html", message=message), status


@bp.post("/account/upgrade")
@login_required
def upgrade():
    if not ButtonForm().validate_on_submit():
        return _problem("The form expired. Go back, reload and try again.", 400)
    try:
        with transaction(immediate=True) as session:
            member = session.get(Member, current_user.id)
            url = service.start_checkout(
                session, _gateway(), _settings(), member, request.args.get("plan", "")
            )
    except service.UnknownPlan as error:
        return _problem(str(error), 400)
    except service.PaymentsUnavailable:
        return _problem(UNAVAILABLE, 404)
    except GatewayError as error:
        log.warning("Stripe checkout failed: %s", error)
        return _problem(STRIPE_DOWN, 502)
    return redirect(url, code=303)


@bp.get("/account/upgrade/return")
@login_required
def upgrade_return():
    """Back from Checkout: access comes from the webhook, so this page waits for it."""
    with transaction() as session:
        welcome_text = issues.publication(session).welcome_text
    return render_template(
        "payments/confirming.html", paid=current_user.tier == "paid", welcome_text=welcome_text
    )


@bp.get("/account/upgrade/status.json")
@login_required
def upgrade_status():
    with transaction() as session:
        status = service.access_status(session.get(Member, current_user.id))
    return jsonify(status), 200, {"Cache-Control": "no-store"}


@bp.post("/account/billing")
@login_required
def billing():
    if not ButtonForm().validate_on_submit():
        return _problem("The form expired. Go back, reload and try again.", 400)
    try:
        with transaction() as session:
            member = session.get(Member, current_user.id)
            url = service.billing_portal(_settings(), _gateway(), member)
    except service.PaymentsUnavailable:
        return _problem(UNAVAILABLE, 404)
    except service.NoCustomer as error:
        return _problem(str(error), 400)
    except GatewayError as error:
        log.warning("Stripe billing portal failed: %s", error)
        return _problem(STRIPE_DOWN, 502)
    return redirect(url, code=303)


@bp.post("/webhooks/stripe")
@csrf.exempt
def webhook():
    """Stripe retries anything but 2xx: 400 for a bad signature, 503 when Stripe is unreachable."""
    settings = _settings()
    if not settings.stripe_webhook_secret or not settings.stripe_secret_key:
        return _plain("payments are not configured", 404)
    try:
        signature = request.headers.get("Stripe-Signature")
        event = verify_event(request.get_data(), signature, settings.stripe_webhook_secret)
    except InvalidEvent as error:
        return _plain(f"invalid event: {error}", 400)
    try:
        outcome = _apply(event)
    except GatewayError as error:
        log.warning("Stripe unreachable while applying %s: %s", event["id"], error)
        return _plain("could not read the subscription from Stripe; retry later", 503)
    return _plain(outcome, 200)


def _apply(event: dict, *, again: bool = True) -> str:
    """Apply the event; once more if another event of the same new subscription, for a
    customer with no member to lock, inserted its row first (the second try finds the row)."""
    try:
        with transaction(immediate=True) as session:
            return service.apply_event(session, _gateway(), event)
    except IntegrityError as error:
        if service.is_duplicate(error):
            return "duplicate"
        if not again:
            raise
    return _apply(event, again=False)


def _plain(text: str, status: int):
    return text + "\n", status, {"Content-Type": "text/plain; charset=utf-8"}
