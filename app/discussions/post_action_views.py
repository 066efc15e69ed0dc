"""What readers do to a post besides answering it, and what editors do to posts and threads.

Reactions toggle (in place with ``reactions.js``, or by a plain POST and redirect without
JavaScript); reports go to the editors; hide, delete, lock and pin go through ``moderation``,
which writes each to the audit log. A post in a thread the viewer may not read is a 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, request
from flask_login import current_user

from app.db import transaction
from app.discussions import moderation, service, viewing
from app.discussions.models import REACTIONS, Post
from app.discussions.service import PostRefused
from app.discussions.views import (
    back_to,
    findable_thread,
    load,
    message_page,
    per_member,
    readable_post,
)
from app.web.security import limiter, viewer_in

bp = Blueprint("post_actions", __name__)

REACTING_LIMIT = "60 per minute; 600 per hour"
REPORTING_LIMIT = "10 per minute; 50 per hour"
MAX_REASON = 2000
# action → (new status, what the editor is told)
POST_ACTIONS = {
    "hide": ("hidden", "Hidden: only its author and editors see it now."),
    "unhide": ("visible", "Shown again."),
    "delete": ("deleted", "Deleted: a tombstone keeps its replies in place."),
}
# action → (flag, on, what the editor is told)
THREAD_ACTIONS = {
    "lock": ("locked", True, "Locked: only editors can post now."),
    "unlock": ("locked", False, "Unlocked: members can post again."),
    "pin": ("pinned", True, "Pinned."),
    "unpin": ("pinned", False, "Unpinned."),
    "hide": ("hidden", True, "Hidden: only editors see this thread now."),
    "unhide": ("hidden", False, "Shown again."),
}
TOO_LONG = f"Keep the reason under {MAX_REASON:,} characters."


def _reason() -> str | None:
    """The optional reason a form gives, or None when it is too long to keep."""
    reason = request.form.get("reason", "").strip()
    return reason if len(reason) <= MAX_REASON else None


def _wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == (
        "application/json"
    )


@bp.post("/posts/<int:post_id>/reactions")
@limiter.limit(REACTING_LIMIT, key_func=per_member)
def react(post_id: int):
    kind = request.form.get("kind", "")
    with transaction() as session:
        viewer = viewer_in(session)
        post = readable_post(session, viewer, post_id)
        if kind not in REACTIONS:
            return message_page(400, "Choose one of the reactions shown under the post.")
        if not current_user.is_authenticated:
            return message_page(403, "Sign in to react to posts.")
        try:
            pressed = service.toggle_reaction(session, viewer, post, kind)
        except PostRefused as refused:
            return message_page(404 if refused.reason == "not-found" else 403, str(refused))
        count = viewing.reaction_count(session, post.id, kind)
        target = back_to(post.thread, post.id)
    if _wants_json():
        return jsonify(pressed=pressed, count=count)
    return redirect(target, 303)


@bp.post("/posts/<int:post_id>/report")
@limiter.limit(REPORTING_LIMIT, key_func=per_member)
def report(post_id: int):
    reason = _reason()
    with transaction() as session:
        viewer = viewer_in(session)
        post = readable_post(session, viewer, post_id)
        if not current_user.is_authenticated:
            return message_page(403, "Sign in to report a post.")
        if reason is None:
            return message_page(400, TOO_LONG)
        if post.status == "deleted":
            return message_page(400, "That post was removed already.")
        try:
            first = moderation.report_post(session, viewer, post, reason)
        except moderation.ModerationError:
            abort(404)
        target = back_to(post.thread, post.id)
    flash(
        "Thank you: the editors will look at this post."
        if first
        else "You reported this post already: the editors will look at it.",
        "success",
    )
    return redirect(target, 303)


def _moderation(actions: dict, choices: str):
    """The editor's chosen action and reason, or the page refusing the request."""
    if not (current_user.is_authenticated and current_user.is_editor):
        return None, message_page(403, "Only editors moderate posts and threads.")
    action, reason = request.form.get("action", ""), _reason()
    if action not in actions:
        return None, message_page(400, f"Choose {choices}.")
    if reason is None:
        return None, message_page(400, TOO_LONG)
    return (actions[action], reason), None


@bp.post("/posts/<int:post_id>/moderate")
def moderate_post(post_id: int):
    chosen, refusal = _moderation(POST_ACTIONS, "hide, unhide or delete")
    if refusal is not None:
        return refusal
    (status, done), reason = chosen
    with transaction() as session:
        post = load(session, Post, post_id)
        if post is None:
            abort(404)
        try:
            moderation.set_post_status(session, viewer_in(session), post, status, reason)
        except moderation.ModerationError as error:
            return message_page(400, str(error))
        target = back_to(post.thread, post.id)
    flash(done, "success")
    return redirect(target, 303)


@bp.post("/t/<int:thread_id>/moderate")
def moderate_thread(thread_id: int):
    chosen, refusal = _moderation(THREAD_ACTIONS, "lock, unlock, pin, unpin, hide or unhide")
    if refusal is not None:
        return refusal
    (flag, on, done), reason = chosen
    with transaction() as session:
        editor = viewer_in(session)
        thread = findable_thread(session, editor, thread_id)
        moderation.set_thread_flag(session, editor, thread, flag, on, reason)
        target = back_to(thread)
    flash(done, "success")
    return redirect(target, 303)
