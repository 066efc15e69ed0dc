"""Sending an issue from the editor: pick a segment, confirm, and watch the counts."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length

from app.db import transaction
from app.issues.models import Issue
from app.members import segments
from app.queue import available, enqueue_mail
from app.sending import service
from app.sending.jobs import enqueue_send
from app.web.forms import ButtonForm
from app.web.security import editor_required

bp = Blueprint("sends", __name__, url_prefix="/admin")


class SendForm(FlaskForm):
    expression = StringField(
        "Send to (segment expression)", validators=[DataRequired(), Length(max=2000)]
    )
    confirm = BooleanField("I checked who this goes to", validators=[DataRequired()])


@bp.before_request
@editor_required
def _editors_only():
    return None


@bp.post("/issues/<int:issue_id>/test")
def send_test(issue_id: int):
    """Mail the issue to the signed-in editor, as recipients will see it."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    with transaction() as session:
        if session.get(Issue, issue_id) is None:
            abort(404)
    if enqueue_mail("app.sending.jobs.send_test", issue_id, current_user.id):
        flash(f"A test copy is on its way to {current_user.email}.", "success")
    else:
        flash("The job queue is unavailable; try again in a minute.", "error")
    return redirect(url_for("admin.edit_issue", issue_id=issue_id))


@bp.post("/issues/<int:issue_id>/send")
def send(issue_id: int):
    form = SendForm()
    if not form.validate_on_submit():
        flash("Nothing was sent: give a segment and tick the confirmation.", "error")
        return redirect(url_for("admin.edit_issue", issue_id=issue_id))
    if not available():
        flash("Nothing was sent: the job queue is unavailable. Try again in a minute.", "error")
        return redirect(url_for("admin.edit_issue", issue_id=issue_id))
    try:
        with transaction() as session:
            issue = session.get(Issue, issue_id)
            if issue is None:
                abort(404)
            started = service.start_send(session, issue, form.expression.data)
            send_id, recipients = started.id, started.recipients
    except segments.SegmentError as error:
        flash(f"Nothing was sent: {error}", "error")
        return redirect(url_for("admin.edit_issue", issue_id=issue_id))
    enqueue_send(send_id)
    flash(f"Sending to {recipients} recipients. The counts below update as it goes.", "success")
    return redirect(url_for("admin.edit_issue", issue_id=issue_id) + f"#send-{send_id}")
