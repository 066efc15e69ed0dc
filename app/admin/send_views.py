"""Sending an issue from the editor: the send dialog, a test copy, and each send's progress.

Everything works without JavaScript: "Check recipients" and "Send" post the same form, the
page answers with the count or the errors in place. Scripts only add the browser's time
zone and live numbers.
"""

from __future__ import annotations

import logging
from datetime import datetime

import redis
from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import Session

from app.admin.send_forms import SendForm, WhenForm
from app.db import transaction
from app.issues.models import Issue
from app.members import audience, segments
from app.queue import available, enqueue_mail
from app.sending import control, service
from app.sending.jobs import enqueue_send
from app.sending.models import Send
from app.web.forms import ButtonForm
from app.web.security import editor_required

bp = Blueprint("sends", __name__, url_prefix="/admin")
log = logging.getLogger(__name__)

QUEUE_DOWN = "the job queue is unavailable. Try again in a minute."
CONTROLS = {
    "pause": lambda session, send_id: control.pause(session, send_id, current_user.email),
    "resume": control.resume,
    "cancel": control.cancel,
}
DONE = {
    "pause": "Paused after the batch in flight. Resume it when you are ready.",
    "resume": "Resumed: it continues where it stopped.",
    "cancel": "Cancelled: members not sent it yet will not get it.",
}


@bp.before_request
@editor_required
def _editors_only():
    return None


def _issue(session: Session, issue_id: int) -> Issue:
    issue = session.get(Issue, issue_id)
    if issue is None:
        abort(404)
    return issue


def _send(session: Session, send_id: int) -> Send:
    send = session.get(Send, send_id)
    if send is None:
        abort(404)
    return send


@bp.post("/issues/<int:issue_id>/test")
def send_test(issue_id: int):
    """Mail the issue to the signed-in editor, as recipients will see it."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    with transaction() as session:
        _issue(session, issue_id)
    if enqueue_mail("app.sending.jobs.send_test", issue_id, current_user.id):
        flash(f"A test copy is on its way to {current_user.email}.", "success")
    else:
        flash(f"No test was sent: {QUEUE_DOWN}", "error")
    return redirect(url_for("sends.send", issue_id=issue_id))


@bp.get("/issues/<int:issue_id>/send")
def send_dialog(issue_id: int):
    with transaction() as session:
        issue = _issue(session, issue_id)
        form = SendForm(formdata=None, saved=audience.saved_segments(session))
        return _dialog(issue, form)


@bp.post("/issues/<int:issue_id>/send")
def send(issue_id: int):
    """Check the recipients, or start (or schedule) the send once everything is right."""
    with transaction(immediate=True) as session:
        issue = _issue(session, issue_id)
        form = SendForm(saved=audience.saved_segments(session))
        form.validate()
        expression = form.chosen_expression()
        if request.form.get("action") == "check":
            count = _count(session, issue, form, expression) if expression else None
            return _dialog(issue, form, count=count, status=200 if count is not None else 400)
        at = form.scheduled_at()
        if not form.confirm.data:
            form.confirm.errors.append("Tick this once you have checked who it goes to.")
        if form.errors:
            return _dialog(issue, form, status=400)
        if not available():
            form.form_errors.append(f"Nothing was sent: {QUEUE_DOWN}")
            return _dialog(issue, form, status=503)
        try:
            with session.begin_nested():
                started = service.start_send(session, issue, expression, at=at)
        except (segments.SegmentError, service.SendError) as error:
            form.expression_field.errors.append(str(error))
            return _dialog(issue, form, status=400)
    _start_jobs(started.id, at=at if started.status == "scheduled" else None)
    flash(_started_message(started), "success")
    return redirect(url_for("admin.edit_issue", issue_id=issue_id) + f"#send-{started.id}")


def _count(session: Session, issue: Issue, form: SendForm, expression: str) -> int | None:
    try:
        return service.count_recipients(session, issue, expression)
    except segments.SegmentError as error:
        form.expression_field.errors.append(str(error))
        return None


def _dialog(issue: Issue, form: SendForm, *, count: int | None = None, status: int = 200):
    page = render_template("admin/send.html", issue=issue, form=form, count=count)
    return page, status


def _started_message(send: Send) -> str:
    people = f"{send.recipients} recipient{'s' if send.recipients != 1 else ''}"
    if send.status == "scheduled":
        return f"Scheduled for {control.moment_text(send.scheduled_at)} to {people}."
    return f"Sending to {people}. The numbers below update as it goes."


def _start_jobs(send_id: int, *, at: datetime | None = None) -> None:
    """Queue the send's first job after the commit. If Redis fails now, the reconciler in
    every worker finds the send in the database within a minute, so nothing is lost."""
    try:
        enqueue_send(send_id, at=at)
    except (redis.RedisError, OSError):
        log.exception("could not queue send %s", send_id)
        flash("The job queue did not answer; workers will pick the send up shortly.", "error")


@bp.get("/sends/<int:send_id>")
def progress_page(send_id: int):
    with transaction() as session:
        send = _send(session, send_id)
        issue = _issue(session, send.issue_id)
        return render_template(
            "admin/send_progress.html", issue=issue, progress=control.snapshot(session, send)
        )


@bp.get("/sends/<int:send_id>.json")
def progress_json(send_id: int):
    with transaction() as session:
        progress = control.snapshot(session, _send(session, send_id))
    response = jsonify(progress.as_json())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/sends/<int:send_id>/<any(pause, resume, cancel):action>")
def control_send(send_id: int, action: str):
    """Pause, resume or cancel; a resume needs the queue, so without it nothing changes."""
    if not ButtonForm().validate_on_submit():
        abort(400)
    with transaction(immediate=True) as session:
        send = _send(session, send_id)
        if action == "resume" and not available():
            flash(f"Nothing changed: {QUEUE_DOWN}", "error")
            return _back(send)
        if not CONTROLS[action](session, send_id):
            return _unchanged(session, send, action)
    if action == "resume":
        _start_jobs(send_id)
    flash(DONE[action], "success")
    return _back(send)


@bp.post("/sends/<int:send_id>/reschedule")
def reschedule(send_id: int):
    form = WhenForm()
    form.validate()
    with transaction(immediate=True) as session:
        send = _send(session, send_id)
        at = form.moment()
        if at is None:
            flash(f"Not rescheduled: {' '.join(form.at.errors)}", "error")
            return _back(send)
        if not available():
            flash(f"Not rescheduled: {QUEUE_DOWN}", "error")
            return _back(send)
        if not control.reschedule(session, send_id, at):
            return _unchanged(session, send, "reschedule")
    _start_jobs(send_id, at=at)
    flash(f"Rescheduled for {control.moment_text(at)}.", "success")
    return _back(send)


def _unchanged(session: Session, send: Send, action: str):
    session.refresh(send)
    flash(
        control.unchanged_reason(send, action),
        "info" if control.already_done(send, action) else "error",
    )
    return _back(send)


def _back(send: Send):
    """Back where the button was: the send's own page, or the issue's send panel."""
    if request.form.get("back") == "progress":
        return redirect(url_for("sends.progress_page", send_id=send.id))
    return redirect(url_for("admin.edit_issue", issue_id=send.issue_id) + f"#send-{send.id}")
