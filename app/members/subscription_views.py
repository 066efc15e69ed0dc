"""Sign-up with double opt-in, confirmation, and one-click unsubscribe (RFC 8058)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.db import transaction
from app.members import service, subscriptions, tokens
from app.queue import available, enqueue_mail
from app.web.forms import ButtonForm
from app.web.security import csrf, limiter, per_address, sign_in

bp = Blueprint("subscriptions", __name__)

FORM_SALT = "kith.subscribe-form"
FORM_MAX_AGE = 2 * 24 * 3600
TOKEN_PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def _settings():
    return current_app.extensions["kith.settings"]


def subscribe_form_token() -> str:
    """A signed, dated token for the sign-up form.

    The form sits on cached public pages shared by every anonymous reader, so it cannot carry
    a per-session CSRF token. Sign-up needs no session: this token, the Origin check, the
    honeypot, rate limits and double opt-in are what protect it.
    """
    return URLSafeTimedSerializer(_settings().secret_key, salt=FORM_SALT).dumps("subscribe")


def _form_source(name: str) -> str:
    """Which form the sign-up came from, for the consent record ("form:home", "form:issue")."""
    clean = "".join(ch for ch in name.lower() if ch.isascii() and (ch.isalnum() or ch in "-:"))
    return f"form:{clean[:40]}" if clean else "form"


def _form_token_valid(token: str) -> bool:
    try:
        URLSafeTimedSerializer(_settings().secret_key, salt=FORM_SALT).loads(
            token, max_age=FORM_MAX_AGE
        )
    except BadSignature:
        return False
    return True


def _same_origin() -> bool:
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc in (request.host, urlsplit(_settings().base_url).netloc)


@bp.route("/subscribe", methods=["GET", "POST"])
@csrf.exempt
@limiter.limit("10 per minute; 60 per hour", methods=["POST"])
@limiter.limit("3 per hour", methods=["POST"], key_func=per_address("subscribe"))
def subscribe():
    if request.method == "GET":
        return render_template("members/subscribe.html")
    if not _same_origin() or not _form_token_valid(request.form.get("form_token", "")):
        return render_template(
            "members/subscribe.html", error="This form expired. Reload the page and try again."
        ), 400
    email = request.form.get("email", "")
    if request.form.get("website"):  # the honeypot: people never see this field, bots fill it
        return render_template("members/subscribe_sent.html", email=email)
    try:
        with transaction(immediate=True) as session:
            outcome = subscriptions.subscribe(
                session, email, name=request.form.get("name", ""), ip=request.remote_addr,
                source=_form_source(request.form.get("form", "")),
            )  # fmt: skip
    except service.InvalidEmail as error:
        return render_template("members/subscribe.html", error=str(error), email=email), 400
    queued = available() if outcome.send == "nothing" else True
    if outcome.send == "confirmation":
        queued = enqueue_mail("app.members.jobs.send_confirmation_email", outcome.member_id)
    elif outcome.send == "login":
        queued = enqueue_mail("app.members.jobs.send_login_email", outcome.login_nonce)
    if not queued:
        error = "We could not send email just now. Please try again in a minute."
        return render_template("members/subscribe.html", error=error, email=email), 503
    return render_template("members/subscribe_sent.html", email=email)


@bp.get("/confirm/<token>")
def confirm_page(token: str):
    with transaction() as session:
        try:
            member = subscriptions.peek(session, _settings(), "confirm", token)
        except tokens.TokenError as error:
            return _invalid(str(error))
    return (
        render_template("members/confirm.html", member=member, form=ButtonForm()),
        200,
        TOKEN_PAGE_HEADERS,
    )


@bp.post("/confirm/<token>")
def confirm(token: str):
    if not ButtonForm().validate_on_submit():
        return _invalid("The form expired. Open the link from your email again.")
    with transaction(immediate=True) as session:
        try:
            done = subscriptions.confirm(session, _settings(), token, ip=request.remote_addr)
        except tokens.TokenError as error:
            return _invalid(str(error))
    if not done.newly_confirmed:  # a used link is no way into the account
        flash("Your subscription was already confirmed. Sign in with a new link.", "success")
        return redirect(url_for("members.login"))
    sign_in(done.member)  # the first use proved the address is theirs
    return redirect(url_for("accounts.account", welcome=1))


def _unsubscribe_page(member, token: str, *, done: bool):
    # A link from before an email change still works, but must not show the new address.
    payload = tokens.verify(_settings(), "unsubscribe", token)
    shown = member.email if subscriptions.link_is_current(member, payload.get("e")) else None
    page = render_template(
        "members/unsubscribe.html", member=member, shown_email=shown, form=ButtonForm(), done=done
    )
    return page, 200, TOKEN_PAGE_HEADERS


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str):
    with transaction() as session:
        try:
            member = subscriptions.peek(session, _settings(), "unsubscribe", token)
        except tokens.TokenError as error:
            return _invalid(str(error))
        return _unsubscribe_page(member, token, done=False)


@bp.post("/unsubscribe/<token>")
@csrf.exempt  # RFC 8058: mail clients POST with no cookie or form token; the signed link is proof
def unsubscribe(token: str):
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    with transaction(immediate=True) as session:
        try:
            source = "one-click" if one_click else "unsubscribe page"
            member = subscriptions.unsubscribe(
                session, _settings(), token, source=source, ip=request.remote_addr
            )
        except tokens.TokenError as error:
            return _invalid(str(error))
    if one_click:
        return (
            "Unsubscribed.\n",
            200,
            {"Content-Type": "text/plain; charset=utf-8", **TOKEN_PAGE_HEADERS},
        )
    return _unsubscribe_page(member, token, done=True)


@bp.post("/unsubscribe/<token>/resubscribe")
@limiter.limit("5 per hour")
def resubscribe(token: str):
    """Coming back takes a fresh confirmation, mailed to the address: double opt-in again."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    with transaction(immediate=True) as session:
        try:
            member = subscriptions.peek(session, _settings(), "unsubscribe", token)
        except tokens.TokenError as error:
            return _invalid(str(error))
        outcome = subscriptions.subscribe(
            session, member.email, ip=request.remote_addr, source="resubscribe"
        )
    if outcome.send == "confirmation" and not enqueue_mail(
        "app.members.jobs.send_confirmation_email", outcome.member_id
    ):
        return _invalid(
            "We could not send email just now. Please try again in a minute.", status=503
        )
    return (
        render_template("members/subscribe_sent.html", email=member.email),
        200,
        TOKEN_PAGE_HEADERS,
    )


def _invalid(reason: str, *, status: int = 400):
    return render_template("members/link_invalid.html", reason=reason), status, TOKEN_PAGE_HEADERS
