"""``/admin/moderation``: the editors' queue of reported posts, hidden posts, suspended members,
and the audit log. Every action goes through ``discussions.moderation``, which logs it."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import Session

from app.db import transaction
from app.discussions import moderation
from app.discussions.models import Post
from app.members.models import Member
from app.web.forms import ButtonForm
from app.web.security import editor_required, safe_next

bp = Blueprint("moderation", __name__, url_prefix="/admin/moderation")
PER_PAGE = {"reported": 20, "hidden": 20, "suspended": 50, "log": 50}
MAX_REASON = 2000

# What each button on a post does: the status it gives the post (None: dismiss the reports)
# and what the editor is told afterwards.
POST_ACTIONS = {
    "hide": ("hidden", "Post hidden: only editors and its author see it now."),
    "unhide": ("visible", "Post visible again."),
    "delete": ("deleted", "Post deleted: its words are gone for good."),
    "dismiss": (None, "Reports dismissed: the post stays as it is."),
}


@bp.before_request
@editor_required
def _editors_only():
    return None


@bp.errorhandler(moderation.ModerationError)
def _refused(error: moderation.ModerationError):
    """Bad input or a refused action: say what went wrong, change nothing (the transaction
    that raised it was rolled back)."""
    return render_template("admin/moderation/problem.html", message=str(error)), 400


@bp.app_template_global()
def posting_suspension(member) -> moderation.Suspension | None:
    """For any page (the member's own account page): the suspension in force, if any."""
    return moderation.suspension(member) if getattr(member, "is_authenticated", False) else None


@bp.app_template_filter()
def until_text(suspension: moderation.Suspension | None) -> str:
    """How a suspension's end reads after "cannot post until"."""
    if suspension is None:
        return "now"
    if suspension.indefinite:
        return "a moderator lifts the suspension"
    return suspension.until.strftime("%-d %b %Y %H:%M UTC")


# The suspend forms (queue, member page) offer these lengths: {key: (label, timedelta | None)}.
bp.add_app_template_global(moderation.SUSPENSIONS, "suspension_lengths")


def _page_number() -> int:
    raw = request.args.get("page", "1")
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= 1_000_000:
        raise moderation.ModerationError("A page number is a whole number from 1.")
    return int(raw)


def _reason() -> str:
    reason = request.form.get("reason", "").strip()
    if len(reason) > MAX_REASON:
        raise moderation.ModerationError(f"A reason is at most {MAX_REASON:,} characters.")
    return reason


def _found(session: Session, model, ident: int):
    found = session.get(model, ident)
    if found is None:
        abort(404)
    return found


def _checked_form() -> None:
    if not ButtonForm().validate_on_submit():
        abort(400)


def _back():
    """Back where the editor acted (an admin page), or to the queue."""
    target = safe_next(request.form.get("next"))
    ok = target is not None and target.startswith("/admin/")
    return redirect(target if ok else url_for("moderation.queue"), code=303)


def _render(session: Session, template: str, tab: str, **context):
    """A moderation tab, rendered inside the transaction (its rows load lazily)."""
    return render_template(
        f"admin/moderation/{template}",
        tab=tab,
        tallies=moderation.tallies(session),
        button=ButtonForm(),
        **context,
    )


def _list(tab: str, load, template: str):
    """One page of a moderation list: ``load(session, number, per_page)`` gives it."""
    number = _page_number()
    with transaction() as session:
        page = load(session, number, PER_PAGE[tab])
        return _render(session, template, tab, page=page)


@bp.get("")
def queue():
    return _list("reported", moderation.queue, "queue.html")


@bp.get("/hidden")
def hidden():
    return _list("hidden", moderation.hidden_posts, "hidden.html")


@bp.get("/suspended")
def suspended():
    return _list("suspended", moderation.suspended_members, "suspended.html")


@bp.get("/log")
def log():
    number, action = _page_number(), request.args.get("action", "")
    moderator = request.args.get("moderator", "")
    if moderator and not (moderator.isascii() and moderator.isdigit() and len(moderator) < 12):
        raise moderation.ModerationError("Choose a moderator from the list.")
    moderator_id = int(moderator) if moderator else None
    with transaction() as session:
        page = moderation.log(
            session, action=action, moderator_id=moderator_id, number=number,
            per_page=PER_PAGE["log"],
        )  # fmt: skip
        return _render(
            session, "log.html", "log", page=page, action=action, moderator_id=moderator_id,
            actions=moderation.ACTIONS, moderators=moderation.moderators(session),
        )  # fmt: skip


@bp.get("/posts/<int:post_id>/delete")
def confirm_delete(post_id: int):
    """Deleting cannot be undone, so the queue's Delete leads here first."""
    with transaction() as session:
        post = _found(session, Post, post_id)
        if post.status == "deleted":
            raise moderation.ModerationError("That post is deleted.")
        return render_template(
            "admin/moderation/confirm_delete.html",
            post=post,
            button=ButtonForm(),
            back=safe_next(request.args.get("next")) or url_for("moderation.queue"),
        )


@bp.post("/posts/<int:post_id>")
def act_on_post(post_id: int):
    _checked_form()
    choice = request.form.get("action", "")
    if choice not in POST_ACTIONS:
        raise moderation.ModerationError("Choose Hide, Unhide, Delete or Dismiss reports.")
    status, done = POST_ACTIONS[choice]
    with transaction() as session:
        post = _found(session, Post, post_id)
        me = session.get(Member, current_user.id)
        if status is None:
            moderation.dismiss_reports(session, me, post, _reason())
        else:
            moderation.set_post_status(session, me, post, status, _reason())
    flash(done, "success")
    return _back()


@bp.post("/members/<int:member_id>/suspend")
def suspend(member_id: int):
    _checked_form()
    with transaction() as session:
        member = _found(session, Member, member_id)
        until = moderation.suspension_end(request.form.get("duration", ""))
        moderation.suspend(session, session.get(Member, current_user.id), member, until, _reason())
        told = f"{member.email} cannot post until {until_text(moderation.suspension(member))}."
    flash(told, "success")
    return _back()


@bp.post("/members/<int:member_id>/lift")
def lift(member_id: int):
    _checked_form()
    with transaction() as session:
        member = _found(session, Member, member_id)
        moderation.suspend(session, session.get(Member, current_user.id), member, None, _reason())
        told = f"{member.email} may post again."
    flash(told, "success")
    return _back()
