"""Sign-in by magic link, and sign-out."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms.validators import DataRequired, Length

from app.db import transaction
from app.members import accounts, service
from app.queue import available, enqueue_mail
from app.web.forms import ButtonForm
from app.web.security import limiter, per_address, safe_next, sign_in

bp = Blueprint("members", __name__)
LOGIN_JOB = "app.members.jobs.send_login_email"


class LoginForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired(), Length(max=320)])


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute; 50 per hour", methods=["POST"])
@limiter.limit("5 per hour", methods=["POST"], key_func=per_address("login"))
def login():
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("members/login.html", form=form), 400 if form.errors else 200
    with transaction() as session:
        token = service.request_login(
            session, form.email.data, next_path=safe_next(request.args.get("next"))
        )
        nonce = token.nonce if token else None
    # Known or not, the answer is the same, including when mail cannot be queued right now.
    queued = enqueue_mail(LOGIN_JOB, nonce, job_id=f"login-{nonce}") if nonce else available()
    if not queued:
        flash("We could not send email just now. Please try again in a minute.", "error")
        return render_template("members/login.html", form=form), 503
    # The same answer whether or not the address is known: sign-in must not reveal members.
    return render_template("members/login_sent.html", email=form.email.data)


@bp.get("/login/<token>")
def confirm_login(token: str):
    with transaction() as session:
        try:
            member = service.peek_login(session, _settings(), token)
        except service.LoginLinkError as error:
            return render_template("members/login_invalid.html", reason=str(error)), 400
    return render_template("members/login_confirm.html", form=ButtonForm(), member=member)


@bp.post("/login/<token>")
@limiter.limit("20 per minute")
def use_login(token: str):
    form = ButtonForm()
    if not form.validate_on_submit():
        return render_template(
            "members/login_invalid.html", reason="The form expired; open the link again."
        ), 400
    with transaction() as session:
        try:
            signed_in = service.consume_login(session, _settings(), token)
        except service.LoginLinkError as error:
            return render_template("members/login_invalid.html", reason=str(error)), 400
    sign_in(signed_in.member)
    fallback = (
        url_for("admin.issues_list") if signed_in.member.is_editor else url_for("issues.home")
    )
    return redirect(safe_next(signed_in.next_path) or fallback)


@bp.post("/logout")
def logout():
    """Signs out this browser and every other one: a copied session cookie would otherwise
    stay valid, since the session lives in the cookie itself."""
    form = ButtonForm()
    if form.validate_on_submit() and current_user.is_authenticated:
        with transaction() as session:
            accounts.sign_out_everywhere(session, current_user.id)
        logout_user()
    return redirect(url_for("issues.home"))


def _settings():
    return current_app.extensions["kith.settings"]
