"""The publication's settings: its name and description, and the words on paywalls and in
the welcome that new paying or invited members get."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import Length

from app.db import transaction
from app.issues import service as issues
from app.web.security import editor_required

bp = Blueprint("settings", __name__, url_prefix="/admin/settings")


class PublicationForm(FlaskForm):
    name = StringField(
        "Publication name",
        validators=[Length(max=200)],
        description="Shown on every page and as the sender's name. Empty: MAIL_FROM's name.",
    )
    description = TextAreaField("Description", validators=[Length(max=2000)])
    paywall_text = TextAreaField(
        "Paywall text",
        validators=[Length(max=2000)],
        description="What readers without access see under a members or paid issue's teaser.",
    )
    welcome_text = TextAreaField(
        "Welcome text",
        validators=[Length(max=5000)],
        description="Greets members who start paying or join by invitation.",
    )


@bp.before_request
@editor_required
def _editors_only():
    return None


@bp.route("", methods=["GET", "POST"])
def publication():
    with transaction(immediate=True) as session:
        current = issues.publication(session)
        form = PublicationForm(obj=current)
        if form.validate_on_submit():
            issues.update_publication(session, form.data)
            flash("Settings saved.", "success")
            return redirect(url_for("settings.publication"))
        status = 400 if form.errors else 200
        return render_template("admin/settings.html", form=form), status
