"""The editor's side: writing and publishing issues, previewing them, and the mail outbox."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from app.admin import outbox
from app.admin.send_views import SendForm
from app.db import transaction
from app.issues import service as issues
from app.issues.models import VISIBILITIES, Issue
from app.issues.rendering import render_body
from app.sending import control
from app.web.forms import ButtonForm
from app.web.page_cache import page_cache
from app.web.security import editor_required

bp = Blueprint("admin", __name__, url_prefix="/admin")

MAX_BODY = 400_000  # characters; about 60,000 words
EMAIL_FRAME_POLICY = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "frame-ancestors 'self'"
)


class IssueForm(FlaskForm):
    title = StringField("Title", validators=[Length(max=300)])
    subtitle = StringField("Subtitle", validators=[Length(max=300)])
    slug = StringField(
        "Slug",
        validators=[Length(max=120)],
        description="Part of the address: /issues/<slug>. Left empty, it is made from the title.",
    )
    excerpt = TextAreaField(
        "Excerpt",
        validators=[Length(max=2000)],
        description="Shown in lists, the feed and link previews, and to readers without access.",
    )
    body_markdown = TextAreaField("Body (markdown)", validators=[Length(max=MAX_BODY)])
    visibility = SelectField(
        "Who can read it", choices=[SelectChoice(v, v.capitalize()) for v in VISIBILITIES]
    )
    email_only = BooleanField("Email only (never on the web)")
    discussion = SelectField(
        "Who can join the discussion",
        choices=[
            SelectChoice("members", "Members who can read it"),
            SelectChoice("paid", "Paid members only"),
            SelectChoice("off", "Off"),
        ],
        default="members",
        description="Whoever may read the issue in full reads its discussion; this says who posts.",
    )
    mailed_replies = SelectField(
        "Replies by email",
        choices=[
            SelectChoice("private", "Replies by email go to you only"),
            SelectChoice("public", "Replies by email are posted in the thread"),
        ],
        default="private",
    )
    feedback_choices = SelectField(
        "One-click ratings in the email",
        choices=[
            SelectChoice(0, "None"),
            SelectChoice(3, "3 choices"),
            SelectChoice(5, "5 choices"),
        ],
        coerce=int,
        default=0,
    )


@bp.before_request
@editor_required
def _editors_only():
    return None


@bp.get("/")
def index():
    return redirect(url_for("admin.issues_list"))


@bp.get("/issues")
def issues_list():
    with transaction() as session:
        items = issues.all_for_editor(session)
    return render_template("admin/issues.html", issues=items)


@bp.route("/issues/new", methods=["GET", "POST"])
def new_issue():
    return _edit(None)


@bp.route("/issues/<int:issue_id>", methods=["GET", "POST"])
def edit_issue(issue_id: int):
    return _edit(issue_id)


def _edit(issue_id: int | None):
    """Show the editor; on POST save (and maybe publish), or just preview without saving."""
    response = _edit_in_transaction(issue_id)
    if request.method == "POST" and response.status_code == 302:
        page_cache().invalidate()  # after the commit, so the next request sees the new version
    return response


def _edit_in_transaction(issue_id: int | None):
    with transaction() as session:
        issue = session.get(Issue, issue_id) if issue_id is not None else None
        if issue_id is not None and issue is None:
            abort(404)
        form = IssueForm(obj=issue)
        action = request.form.get("action", "save")
        if request.method == "GET" or not form.validate_on_submit():
            return _editor_page(form, issue, status=400 if form.errors else 200)
        if action == "preview":
            return _editor_page(form, issue)
        try:
            with session.begin_nested():
                saved = issues.edit_issue(session, form.data, issue_id=issue_id, action=action)
        except issues.IssueError as error:
            for field, message in error.errors.items():
                if field in form:
                    form[field].errors.append(message)
                else:
                    form.form_errors.append(message)
            return _editor_page(form, issue, status=400)
        flash(_saved_message(action, saved), "success")
        return redirect(url_for("admin.edit_issue", issue_id=saved.id))


def _saved_message(action: str, issue: Issue) -> str:
    if action == "publish":
        return f"Published. Readers see it at /issues/{issue.slug}."
    if action == "unpublish":
        return "Unpublished: it is a draft again."
    return "Saved."


def _editor_page(form: IssueForm, issue: Issue | None, *, status: int = 200):
    preview = render_body(form.body_markdown.data or "")
    fields = _preview_fields(
        {name: form[name].data for name in ("title", "subtitle", "excerpt", "visibility")}
    )
    page = render_template(
        "admin/edit.html", form=form, issue=issue, preview=preview, **fields, **_sending(issue)
    )
    return current_app.make_response((page, status))


def _sending(issue: Issue | None) -> dict:
    """What the "send by email" panel of a saved issue shows."""
    if issue is None or issue.id is None:
        return {}
    with transaction() as session:
        return {
            "sends": control.snapshots(session, issue),
            "send_form": SendForm(formdata=None),
        }


@bp.post("/preview")
def preview():
    """The live preview: the same renderer and template readers get, as an HTML fragment."""
    form = ButtonForm()
    if not form.validate_on_submit():
        abort(400)
    body = request.form.get("body_markdown", "")
    if len(body) > MAX_BODY:
        abort(413)
    return render_template(
        "admin/_preview.html", preview=render_body(body), **_preview_fields(request.form)
    )


def _preview_fields(values) -> dict[str, str]:
    """The fields besides the body that change what the preview shows."""
    return {
        name: (values.get(name) or "")[:2000]
        for name in ("title", "subtitle", "excerpt", "visibility")
    }


@bp.get("/outbox")
def outbox_list():
    return render_template("admin/outbox.html", messages=outbox.recent(100))


@bp.get("/outbox/<key>")
def outbox_message(key: str):
    message = outbox.read(key)
    if message is None:
        abort(404)
    return render_template("admin/outbox_message.html", message=message)


@bp.get("/outbox/<key>/html")
def outbox_html(key: str):
    """The message's HTML alone, for a sandboxed frame: email CSS is inline, scripts never run."""
    message = outbox.read(key)
    if message is None or not message.html:
        abort(404)
    return (
        message.html,
        200,
        {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": EMAIL_FRAME_POLICY,
            "X-Frame-Options": "SAMEORIGIN",
        },
    )
