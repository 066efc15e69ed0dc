"""``/admin/api-tokens``: editors make API tokens (each shown once) and revoke them."""

from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from app.api import tokens
from app.db import transaction
from app.members.models import Member
from app.web.forms import ButtonForm
from app.web.security import editor_required

bp = Blueprint("api_tokens", __name__, url_prefix="/admin/api-tokens")


class TokenForm(FlaskForm):
    name = StringField(
        "Name", validators=[DataRequired(), Length(max=tokens.MAX_NAME)],
        description="What it is for, e.g. “CRM sync”.",
    )  # fmt: skip
    scope = RadioField(
        "Scope",
        choices=[
            SelectChoice("read", "Read: list and read members, issues, sends and threads"),
            SelectChoice("write", "Write: also add and change members and issues, and send"),
        ],
        default="read",
    )


@bp.before_request
@editor_required
def _editors_only():
    return None


def _page(form: TokenForm | None = None, *, secret: str | None = None, status: int = 200):
    """The list and the form; a token just made is shown once, on this answer only (never
    flashed: the flash message would travel in the session cookie)."""
    with transaction() as session:
        page = render_template(
            "admin/api_tokens.html", rows=tokens.all_tokens(session), secret=secret,
            form=form or TokenForm(formdata=None), button=ButtonForm(),
        )  # fmt: skip
    answer = make_response(page, status)
    answer.headers["Cache-Control"] = "no-store"
    return answer


@bp.get("")
def tokens_list():
    return _page()


@bp.post("")
def create():
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        with transaction() as session:
            editor = session.get(Member, current_user.id)
            made = tokens.create(session, editor, name=form.name.data, scope=form.scope.data)
    except tokens.TokenError as error:
        form.name.errors.append(str(error))
        return _page(form, status=400)
    return _page(secret=made.secret, status=201)


@bp.post("/<int:token_id>/revoke")
def revoke(token_id: int):
    if not ButtonForm().validate_on_submit():
        return _page(status=400)
    try:
        with transaction() as session:
            name = tokens.revoke(session, token_id).name
    except tokens.TokenError as error:
        flash(str(error), "error")
    else:
        flash(
            f"The token “{name}” is revoked: programs using it are refused from now on.", "success"
        )
    return redirect(url_for("api_tokens.tokens_list"))
