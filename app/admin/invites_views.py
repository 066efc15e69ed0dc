"""``/admin/invites``: the editor makes, lists and withdraws invitations, and sees who used them."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from app.db import transaction
from app.members import invites
from app.members.models import TIERS
from app.web.forms import ButtonForm
from app.web.security import editor_required

bp = Blueprint("admin_invites", __name__, url_prefix="/admin/invites")


class InviteForm(FlaskForm):
    tier = SelectField("Tier it grants", choices=list(TIERS), default="invite")
    max_uses = IntegerField(
        "How many people may use it", validators=[Optional(), NumberRange(min=1, max=1_000_000)],
        description="Empty: any number.",
    )  # fmt: skip
    expires = StringField(
        "Expires", validators=[Length(max=40)],
        description="ISO 8601, e.g. 2026-12-31T23:59 (UTC unless a zone is given). Empty: never.",
    )  # fmt: skip
    tags = StringField(
        "Tags it adds", validators=[Length(max=1000)], description="Comma-separated."
    )
    note = StringField("Note (for you)", validators=[Length(max=200)])


class FriendsForm(FlaskForm):
    email = EmailField("Member's email address", validators=[DataRequired(), Length(max=320)])
    count = IntegerField("Friends they may invite", validators=[NumberRange(min=0, max=1000)])


@bp.before_request
@editor_required
def _editors_only():
    return None


def _page(status: int = 200, **forms):
    with transaction() as session:
        rows = invites.list_invites(session)
        page = render_template(
            "admin/invites.html", rows=rows, button=ButtonForm(),
            form=forms.get("form") or InviteForm(formdata=None),
            friends=forms.get("friends") or FriendsForm(formdata=None),
            url=lambda invite: invites.join_url(current_app.extensions["kith.settings"], invite),
        )  # fmt: skip
    return page, status


@bp.get("")
def invites_list():
    return _page()


@bp.post("")
def create():
    form = InviteForm()
    if not form.validate_on_submit():
        return _page(400, form=form)
    try:
        with transaction() as session:
            invites.create(
                session, tier=form.tier.data, max_uses=form.max_uses.data,
                expires_at=invites.parse_expiry(form.expires.data),
                tags=[tag for tag in (form.tags.data or "").split(",") if tag.strip()],
                note=form.note.data or "",
            )  # fmt: skip
    except invites.InviteError as error:
        form.expires.errors.append(str(error))
        return _page(400, form=form)
    flash("Invitation created: copy its link from the list.", "success")
    return redirect(url_for("admin_invites.invites_list"))


@bp.post("/<int:invite_id>/revoke")
def revoke(invite_id: int):
    if not ButtonForm().validate_on_submit():
        return _page(400)
    try:
        with transaction() as session:
            invites.revoke(session, invite_id)
    except invites.InviteError as error:
        flash(str(error), "error")
        return redirect(url_for("admin_invites.invites_list"))
    flash("Invitation withdrawn: its link no longer works.", "success")
    return redirect(url_for("admin_invites.invites_list"))


@bp.get("/<int:invite_id>")
def redemptions(invite_id: int):
    with transaction() as session:
        try:
            invite, rows = invites.redemptions(session, invite_id)
        except invites.InviteError as error:
            flash(str(error), "error")
            return redirect(url_for("admin_invites.invites_list"))
        return render_template(
            "admin/invites_redemptions.html", invite=invite, rows=rows, state=invites.state(invite)
        )


@bp.post("/friends")
def allow_friends():
    form = FriendsForm()
    if not form.validate_on_submit():
        return _page(400, friends=form)
    try:
        with transaction() as session:
            member = invites.allow_friends(session, form.email.data, form.count.data)
            email, count = member.email, member.invites_left
    except invites.InviteError as error:
        form.email.errors.append(str(error))
        return _page(400, friends=form)
    flash(f"{email} may now invite {count} friend(s).", "success")
    return redirect(url_for("admin_invites.invites_list"))
