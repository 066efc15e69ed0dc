"""The editor's feedback inbox at /admin/feedback: filter, mark handled, answer, and an
issue's one-click ratings."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from app.db import transaction
from app.discussions import feedback, notifications, service, votes
from app.discussions.models import POST_SOURCES
from app.issues.models import Issue
from app.members.models import TIERS, Member
from app.web.forms import ButtonForm
from app.web.security import editor_required

bp = Blueprint("feedback", __name__, url_prefix="/admin")
MAX_PAGE = 100_000
MAX_ID = 2**31 - 1  # beyond an integer column: no such row, and no database error either


class AnswerForm(FlaskForm):
    body = TextAreaField(
        "Your answer",
        validators=[
            DataRequired(message="Write your answer first."),
            Length(max=service.MAX_BODY, message=service.PostRefused.MESSAGES["too-long"]),
        ],
        description="Markdown works. The member gets it by email.",
    )


@bp.before_request
@editor_required
def _editors_only():
    return None


def _filters(args: MultiDict) -> tuple[feedback.InboxFilters, int, list[str]]:
    """The filters and page number the query string asks for, and what is wrong with it."""
    errors: list[str] = []
    issue_id = _number(args.get("issue", ""), MAX_ID, errors, "Choose an issue from the list.")
    tier, source = args.get("tier") or None, args.get("source") or None
    if tier not in (None, *TIERS):
        errors.append(f"The tier is one of: {', '.join(TIERS)}.")
    if source not in (None, *POST_SOURCES):
        errors.append(f"The source is one of: {', '.join(POST_SOURCES)}.")
    page = _number(args.get("page", ""), MAX_PAGE, errors, "The page is a number from 1.") or 1
    filters = feedback.InboxFilters(
        issue_id=issue_id,
        tier=tier if not errors else None,
        source=source if not errors else None,
        unhandled=args.get("unhandled") == "1",
        private=args.get("private") == "1",
    )
    return filters, page, errors


def _number(value: str, limit: int, errors: list[str], message: str) -> int | None:
    if not value:
        return None
    if value.isascii() and value.isdigit() and len(value) <= 10 and 0 < int(value) <= limit:
        return int(value)
    errors.append(message)
    return None


@bp.get("/feedback")
def inbox():
    filters, number, errors = _filters(request.args)
    with transaction() as session:
        issue = session.get(Issue, filters.issue_id) if filters.issue_id else None
        if filters.issue_id and issue is None:
            errors.append("There is no such issue.")
        if errors:
            filters = feedback.InboxFilters()
        found = feedback.inbox(session, filters, number if not errors else 1)
        results = votes.results(session, issue) if issue is not None and not errors else None
        choices = feedback.issues_with_feedback(session)
    page = render_template(
        "admin/feedback.html",
        inbox=found,
        filters=filters,
        filtered=filters != feedback.InboxFilters(),
        errors=errors,
        issue=issue if not errors else None,
        results=results,
        issues=choices,
        tiers=TIERS,
        sources=POST_SOURCES,
        back=request.full_path,
    )
    return page, 400 if errors else 200


def _back() -> str:
    """Where to return after an action: the inbox as it was filtered, never another site."""
    back = request.form.get("back") or request.args.get("back") or ""
    if back.startswith("/admin/feedback") and "//" not in back and "\\" not in back:
        return back
    return url_for("feedback.inbox")


def _feedback_or_404(session, post_id: int):
    post = feedback.feedback_post(session, post_id)
    if post is None:
        abort(404)
    return post


@bp.post("/feedback/<int:post_id>/handled")
def mark_handled(post_id: int):
    if not ButtonForm().validate_on_submit():
        abort(400)
    handled = request.form.get("handled")
    if handled not in ("1", "0"):
        abort(400)
    with transaction() as session:
        post = _feedback_or_404(session, post_id)
        feedback.set_handled(session, session.get(Member, current_user.id), post, handled == "1")
    flash("Marked handled." if handled == "1" else "Marked unhandled.", "success")
    return redirect(_back(), 303)


@bp.route("/feedback/<int:post_id>/answer", methods=["GET", "POST"])
def answer(post_id: int):
    """The answer form: inline in the inbox, and on its own page (which shows any error)."""
    form = AnswerForm()
    try:
        with transaction() as session:
            post = _feedback_or_404(session, post_id)
            if not form.validate_on_submit():
                return _answer_page(session, form, post, status=400 if form.errors else 200)
            editor = session.get(Member, current_user.id)
            feedback.answer(session, editor, post, form.body.data)
            private = post.private
    except service.PostRefused as refused:
        form.body.errors.append(str(refused))
        with transaction() as session:
            return _answer_page(session, form, _feedback_or_404(session, post_id), status=400)
    queued = notifications.enqueue()
    sent = " The member gets it by email." if queued else " It will be emailed shortly."
    flash(("Answered privately." if private else "Answered in the thread.") + sent, "success")
    return redirect(_back(), 303)


def _answer_page(session, form: AnswerForm, post, *, status: int):
    answers = feedback.answers_to(session, [post.id]).get(post.id, [])
    page = render_template(
        "admin/feedback_answer.html", form=form, post=post, answers=answers, back=_back()
    )
    return page, status
