"""``/join/<code>``: joining or redeeming by invitation; ``/invite``: a member invites a friend.

Every ``/join`` request is rate limited per IP, so codes cannot be brute-forced, and a wrong
code gets the same quick 404 whatever was tried. Join pages send no Referer (the code is in the
address) and are never cached.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import DataRequired, Length

from app.db import transaction
from app.members import invites, service, subscriptions, tokens
from app.members.models import Member
from app.members.subscription_views import TOKEN_PAGE_HEADERS
from app.queue import available, enqueue_mail
from app.web.forms import ButtonForm
from app.web.security import limiter, per_address, sign_in

bp = Blueprint("invites", __name__)

PER_IP = "10 per minute; 60 per hour"
ACCEPTED = "Invitation accepted. Your membership is now: {tier}."
MAIL_FAILED = "We could not send email just now. Please try again in a minute."


class JoinForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired(), Length(max=320)])
    name = StringField("Name (optional)", validators=[Length(max=200)])


def _settings():
    return current_app.extensions["kith.settings"]


def _invalid(error: invites.InviteError):
    status = 404 if str(error) == invites.UNKNOWN else 410
    page = render_template("members/join_invalid.html", reason=str(error))
    return page, status, TOKEN_PAGE_HEADERS


def _join_page(code: str, *, form: JoinForm | None = None, status: int = 200):
    with transaction() as session:
        try:
            invite = invites.usable(session, code)
        except invites.InviteError as error:
            return _invalid(error)
        redeemed = current_user.is_authenticated and invites.already_redeemed(
            session, invite, session.get(Member, current_user.id)
        )
        page = render_template(
            "members/join.html", invite=invite, redeemed=redeemed,
            form=form or JoinForm(formdata=None), button=ButtonForm(),
        )  # fmt: skip
    return page, status, TOKEN_PAGE_HEADERS


@bp.get("/join/<code>")
@limiter.limit(PER_IP)
def join_page(code: str):
    return _join_page(code)


@bp.post("/join/<code>")
@limiter.limit(PER_IP)
@limiter.limit("3 per hour", key_func=per_address("join"))
def join(code: str):
    """A new person asks to join: the same answer whether or not the address is known."""
    form = JoinForm()
    if not form.validate_on_submit():
        return _join_page(code, form=form, status=400)
    try:
        with transaction(immediate=True) as session:
            outcome = invites.join(
                session, code, email=form.email.data, name=form.name.data or "",
                ip=request.remote_addr,
            )  # fmt: skip
            invite_id = invites.find(session, code).id
    except invites.InviteError as error:
        return _invalid(error)
    except service.InvalidEmail as error:
        form.email.errors.append(str(error))
        return _join_page(code, form=form, status=400)
    if not _mail(outcome, invite_id):
        form.email.errors.append(MAIL_FAILED)
        return _join_page(code, form=form, status=503)
    page = render_template("members/join_sent.html", email=form.email.data)
    return page, 200, TOKEN_PAGE_HEADERS


def _mail(outcome: subscriptions.SignupOutcome, invite_id: int) -> bool:
    if outcome.send == "confirmation":
        return enqueue_mail(
            "app.members.invite_jobs.send_join_confirmation", outcome.member_id, invite_id
        )
    if outcome.send == "login":
        return enqueue_mail("app.members.jobs.send_login_email", outcome.login_nonce)
    return available()


@bp.post("/join/<code>/redeem")
@limiter.limit(PER_IP)
@login_required
def redeem(code: str):
    if not ButtonForm().validate_on_submit():
        return _join_page(code, status=400)
    try:
        with transaction(immediate=True) as session:
            member = session.get(Member, current_user.id)
            done = invites.redeem(session, code, member, request.remote_addr)
            tier = member.tier
    except invites.InviteError as error:
        return _invalid(error)
    if done.newly:
        flash(ACCEPTED.format(tier=tier), "success")
    else:
        flash("You had already accepted this invitation.", "success")
    return redirect(url_for("accounts.account", welcome=1))


@bp.get("/join/<code>/confirm/<token>")
@limiter.limit(PER_IP)
def confirm_page(code: str, token: str):
    with transaction() as session:
        try:
            invite = invites.usable(session, code)
            member = subscriptions.peek(session, _settings(), "confirm", token)
        except invites.InviteError as error:
            return _invalid(error)
        except tokens.TokenError as error:
            return _link_invalid(str(error))
        page = render_template(
            "members/join_confirm.html", invite=invite, member=member, form=ButtonForm()
        )
    return page, 200, TOKEN_PAGE_HEADERS


@bp.post("/join/<code>/confirm/<token>")
@limiter.limit(PER_IP)
def confirm(code: str, token: str):
    """Confirm the address, then redeem: a failed redemption leaves a confirmed subscriber."""
    if not ButtonForm().validate_on_submit():
        return _link_invalid("The form expired. Open the link from your email again.")
    with transaction(immediate=True) as session:
        try:
            done = subscriptions.confirm(session, _settings(), token, ip=request.remote_addr)
        except tokens.TokenError as error:
            return _link_invalid(str(error))
    if not done.newly_confirmed:  # a used link is no way into the account
        flash("Your subscription was already confirmed. Sign in with a new link.", "success")
        return redirect(url_for("members.login"))
    sign_in(done.member)
    try:
        with transaction(immediate=True) as session:
            member = session.get(Member, done.member.id)
            invites.redeem(session, code, member, request.remote_addr)
            flash(ACCEPTED.format(tier=member.tier), "success")
    except invites.InviteError as error:
        flash(f"Your subscription is confirmed, but: {error}", "error")
    return redirect(url_for("accounts.account", welcome=1))


def _link_invalid(reason: str):
    return render_template("members/link_invalid.html", reason=reason), 400, TOKEN_PAGE_HEADERS


@bp.get("/invite")
@login_required
def friends():
    with transaction() as session:
        member = session.get(Member, current_user.id)
        given = invites.given_by(session, member)
        page = render_template(
            "members/join_friends.html", member=member, given=given, state=invites.state,
            url=lambda invite: invites.join_url(_settings(), invite), form=ButtonForm(),
        )  # fmt: skip
    return page


@bp.post("/invite")
@login_required
@limiter.limit("20 per hour")
def invite_friend():
    if not ButtonForm().validate_on_submit():
        flash("The form expired. Please try again.", "error")
        return redirect(url_for("invites.friends"))
    try:
        with transaction(immediate=True) as session:
            invite = invites.create_for_friend(session, session.get(Member, current_user.id))
            link = invites.join_url(_settings(), invite)
    except invites.InviteError as error:
        flash(str(error), "error")
        return redirect(url_for("invites.friends"))
    flash(f"Send this link to your friend: {link}", "success")
    return redirect(url_for("invites.friends"))
