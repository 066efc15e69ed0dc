"""Threads on the web: ``/t/<id>``, posting and replying, editing and deleting one's own post.

Each route parses the form, asks the service (which asks ``members.access``) and answers. A
refused post comes back on the thread page with the reason next to the form and the words
the member typed kept; a thread the viewer may not know about is a 404, never a 403.
Reactions, reports and the editors' controls are in ``post_action_views``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user

from app.db import reading, transaction
from app.discussions import moderation, notifications, service, viewing
from app.discussions.models import Post, Thread
from app.discussions.service import MAX_BODY, PostRefused
from app.discussions.viewing import ThreadView
from app.members import access
from app.web.errors import MESSAGES
from app.web.security import limiter, viewer_in

bp = Blueprint("discussions", __name__)

MAX_ID = 2**31 - 1  # ids past the column's range are unknown, not a database error
# The service limits each member in the database; this guards the web edge (editors, bots).
POSTING_LIMIT = "20 per minute; 200 per hour"
REFUSAL_STATUS = {"empty": 400, "too-long": 400, "not-found": 400, "rate-limited": 429}
EDIT_CLOSED = (
    f"You can change or remove a post for {access.EDIT_WINDOW.seconds // 60} minutes after "
    "writing it, while you may still post in its thread."
)


@dataclass
class Draft:
    """What a member typed into a form that was refused, and why."""

    body: str
    parent_id: int | None
    error: str


def per_member() -> str:
    """Rate-limit key: the member when signed in (one person behind many addresses), else IP."""
    if current_user.is_authenticated:
        return f"member:{current_user.id}"
    return get_remote_address()


def load(session, model, ident: int | None):
    return session.get(model, ident) if ident is not None and 0 < ident <= MAX_ID else None


def findable_thread(session, viewer, thread_id: int) -> Thread:
    thread = load(session, Thread, thread_id)
    if not viewing.findable(session, viewer, thread):
        abort(404)
    return thread


def readable_post(session, viewer, post_id: int) -> Post:
    """The post, if ``viewer`` may read its thread and see it; 404 otherwise (an unreadable
    thread's posts do not exist for them)."""
    post = load(session, Post, post_id)
    if (
        post is None
        or not viewing.findable(session, viewer, post.thread)
        or not access.can_read_thread(viewer, post.thread)
        or not access.can_see_post(viewer, post)
    ):
        abort(404)
    return post


def back_to(thread: Thread, post_id: int | None = None) -> str:
    """Where a form goes back to: the issue page it was sent from, or the thread page."""
    anchor = f"post-{post_id}" if post_id else None
    if request.form.get("return_to") == "issue" and thread.kind == "issue":
        return url_for("issues.show", slug=thread.issue.slug, _anchor=anchor)
    return url_for("discussions.thread_page", thread_id=thread.id, _anchor=anchor)


def message_page(status: int, message: str):
    title = MESSAGES.get(status, (f"Error {status}", ""))[0]
    return render_template("error.html", status=status, title=title, message=message), status


def render_thread(view: ThreadView, *, draft: Draft | None = None, status: int = 200):
    if draft is not None and draft.parent_id not in view.reply_targets:
        draft.parent_id = None  # its post is gone or elsewhere: keep the words in the main form
    return render_template("discussions/thread.html", discussion=view, draft=draft), status


def _optional_id(raw: str | None) -> int | None:
    """A form's optional id: None when absent; junk becomes 0, an id no row has."""
    raw = (raw or "").strip()
    if not raw:
        return None
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 10 else 0


@bp.get("/t/<int:thread_id>")
def thread_page(thread_id: int):
    with reading() as session:
        viewer = viewer_in(session)
        thread = findable_thread(session, viewer, thread_id)
        return render_thread(viewing.open_thread(session, viewer, thread))


@bp.post("/t/<int:thread_id>/posts")
@limiter.limit(POSTING_LIMIT, key_func=per_member)
def create_post(thread_id: int):
    body = request.form.get("body", "")
    parent_id = _optional_id(request.form.get("parent_id"))
    try:
        with transaction() as session:
            viewer = viewer_in(session)
            thread = findable_thread(session, viewer, thread_id)
            _check_parent(session, viewer, parent_id)
            post = service.create_post(session, viewer, thread, body, parent_id=parent_id)
            target = back_to(thread, post.id)
    except PostRefused as refused:
        return _refused_post(thread_id, refused, Draft(body, parent_id, str(refused)))
    notifications.enqueue()
    return redirect(target, 303)


def _check_parent(session, viewer, parent_id: int | None) -> None:
    """A reply goes under a post every reader sees, and never under one the viewer cannot see
    (the answer would tell them it exists)."""
    if parent_id is None:
        return
    parent = load(session, Post, parent_id)
    if parent is None or not viewing.replyable(parent) or not access.can_see_post(viewer, parent):
        raise PostRefused("not-found")


def _refused_post(thread_id: int, refused: PostRefused, draft: Draft):
    status = REFUSAL_STATUS.get(refused.reason, 403)
    with transaction() as session:
        viewer = viewer_in(session)
        view = viewing.thread_view(session, viewer, findable_thread(session, viewer, thread_id))
        if not view.readable:
            return message_page(status, draft.error)
        return render_thread(view, draft=draft, status=status)


@bp.route("/posts/<int:post_id>/edit", methods=["GET", "POST"])
@limiter.limit(POSTING_LIMIT, key_func=per_member, methods=["POST"])
def edit_post(post_id: int):
    with transaction() as session:
        viewer = viewer_in(session)
        post = readable_post(session, viewer, post_id)
        if post.status == "deleted" or not access.can_edit_post(viewer, post):
            return message_page(403, _not_editable(viewer, post))
        if request.method == "GET":
            return _edit_page(post, post.body_markdown)
        body = request.form.get("body", "")
        try:
            service.edit_post(session, viewer, post, body)
        except PostRefused as refused:
            return _edit_page(post, body, str(refused), REFUSAL_STATUS.get(refused.reason, 403))
        target = back_to(post.thread, post.id)
    flash("Your changes are saved.", "success")
    return redirect(target, 303)


def _not_editable(viewer, post: Post) -> str:
    if post.author_id is None or post.author_id != getattr(viewer, "id", None):
        return "You can change only your own posts."
    return EDIT_CLOSED


def _edit_page(post: Post, body: str, error: str = "", status: int = 200):
    page = render_template(
        "discussions/edit.html",
        post=post,
        title=viewing.thread_title(post.thread),
        body=body,
        error=error,
        max_body=MAX_BODY,
    )
    return page, status


@bp.post("/posts/<int:post_id>/delete")
@limiter.limit(POSTING_LIMIT, key_func=per_member)
def delete_post(post_id: int):
    """A member removes their own post; editors remove others' posts by moderating."""
    with transaction() as session:
        viewer = viewer_in(session)
        post = readable_post(session, viewer, post_id)
        if post.author_id is None or post.author_id != getattr(viewer, "id", None):
            return message_page(403, "You can remove only your own posts.")
        try:
            moderation.delete_own_post(session, viewer, post)
        except moderation.ModerationError:
            return message_page(403, EDIT_CLOSED)
        target = back_to(post.thread)
    flash("Your post was removed.", "success")
    return redirect(target, 303)
