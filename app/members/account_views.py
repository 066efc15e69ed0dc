"""``/account``: a member's own page — profile, email address, mail preferences, data, deletion."""

from __future__ import annotations

import json

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, StringField
from wtforms.validators import DataRequired, Length

from app.db import transaction
from app.issues import service as issues
from app.members import accounts, service, tokens
from app.members.models import Member
from app.payments import prices
from app.queue import enqueue_mail
from app.web.forms import ButtonForm
from app.web.security import limiter, sign_in

bp = Blueprint("accounts", __name__, url_prefix="/account")


class ProfileForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=200)])


class EmailForm(FlaskForm):
    email = EmailField("New email address", validators=[DataRequired(), Length(max=320)])


class PreferencesForm(FlaskForm):
    email_issues = BooleanField("New issues")
    email_replies = BooleanField("Replies to my posts and comments")
    email_digest = BooleanField("A daily digest of forum activity")


class DeleteForm(FlaskForm):
    confirm_email = EmailField("Type your email address to confirm", validators=[DataRequired()])


def _settings():
    return current_app.extensions["kith.settings"]


def _me(session) -> Member:
    return session.get(Member, current_user.id)


def _page(status: int = 200, **forms):
    defaults = {
        "profile": ProfileForm(obj=current_user),
        "email_form": EmailForm(formdata=None),
        "preferences": PreferencesForm(obj=current_user),
        "delete": DeleteForm(formdata=None),
    }
    defaults.update(forms)
    welcome = request.args.get("welcome")
    welcome_text = ""
    with transaction() as session:
        if welcome and current_user.tier in ("paid", "invite"):
            welcome_text = issues.publication(session).welcome_text
        offers = prices.offers(session, _settings())
    return render_template(
        "members/account.html",
        welcome=welcome,
        welcome_text=welcome_text,
        offers=offers,
        billing_form=ButtonForm(formdata=None),
        **defaults,
    ), status


@bp.get("")
@login_required
def account():
    return _page()


@bp.post("/profile")
@login_required
def profile():
    form = ProfileForm()
    if not form.validate_on_submit():
        return _page(400, profile=form)
    with transaction() as session:
        accounts.update_profile(session, _me(session), name=form.name.data or "")
    flash("Your name is saved.", "success")
    return redirect(url_for("accounts.account"))


@bp.post("/preferences")
@login_required
def preferences():
    form = PreferencesForm()
    if not form.validate_on_submit():
        return _page(400, preferences=form)
    with transaction() as session:
        accounts.set_preferences(
            session, _me(session), issues=form.email_issues.data, replies=form.email_replies.data,
            digest=form.email_digest.data,
        )  # fmt: skip
    flash("Your email preferences are saved.", "success")
    return redirect(url_for("accounts.account"))


@bp.post("/email")
@login_required
@limiter.limit("5 per hour")
def change_email():
    form = EmailForm()
    if not form.validate_on_submit():
        return _page(400, email_form=form)
    try:
        with transaction() as session:
            member = accounts.request_email_change(session, _me(session), form.email.data)
            member_id, new_email = member.id, member.pending_email
    except service.InvalidEmail as error:
        form.email.errors.append(str(error))
        return _page(400, email_form=form)
    if not enqueue_mail("app.members.jobs.send_email_change", member_id):
        flash("We could not send email just now. Please try again in a minute.", "error")
        return redirect(url_for("accounts.account"))
    flash(
        f"We sent a confirmation link to {new_email}. Your address changes when you open it.",
        "success",
    )
    return redirect(url_for("accounts.account"))


@bp.get("/email/<token>")
def email_change_page(token: str):
    with transaction() as session:
        try:
            member, new_email = accounts.pending_email_change(session, _settings(), token)
        except tokens.TokenError as error:
            return render_template("members/link_invalid.html", reason=str(error)), 400
    return render_template(
        "members/email_change.html", member=member, new_email=new_email, form=ButtonForm()
    )


@bp.post("/email/<token>")
def confirm_email_change(token: str):
    if not ButtonForm().validate_on_submit():
        return render_template(
            "members/link_invalid.html", reason="The form expired; open the link again."
        ), 400
    try:
        with transaction() as session:
            member = accounts.confirm_email_change(
                session, _settings(), token, ip=request.remote_addr
            )
    except (tokens.TokenError, accounts.EmailTaken) as error:
        return render_template("members/link_invalid.html", reason=str(error)), 400
    sign_in(member)  # the session version moved: this browser stays signed in, others are out
    flash(f"Your address is now {member.email}.", "success")
    return redirect(url_for("accounts.account"))


@bp.get("/export.json")
@login_required
def export():
    with transaction() as session:
        data = accounts.export_data(session, _me(session))
    return (
        json.dumps(data, indent=2, ensure_ascii=False),
        200,
        {
            "Content-Type": "application/json; charset=utf-8",
            "Content-Disposition": 'attachment; filename="my-kith-data.json"',
            "Cache-Control": "no-store",
        },
    )


@bp.post("/delete")
@login_required
def delete():
    form = DeleteForm()
    if not form.validate_on_submit():
        return _page(400, delete=form)
    try:
        typed = service.normalize_email(form.confirm_email.data)
    except service.InvalidEmail:
        typed = ""
    if typed != current_user.email:
        form.confirm_email.errors.append("That is not your address; nothing was deleted.")
        return _page(400, delete=form)
    with transaction() as session:
        accounts.delete_account(session, _me(session), ip=request.remote_addr)
    logout_user()
    flash("Your account and personal data are deleted. Thank you for reading.", "success")
    return redirect(url_for("issues.home"))
