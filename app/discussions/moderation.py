"""What moderators do to posts, threads and members, each written to the audit log.

Hiding is reversible; deleting wipes the words but keeps a tombstone (replies keep their
place); a suspension stops a member posting until a time, without touching their membership.
Only editors moderate: callers check ``member.is_editor`` before calling (the admin's views do).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import utcnow
from app.discussions.models import ModerationAction, Post, PostReport, Thread
from app.members import access
from app.members.models import Member


class ModerationError(ValueError):
    pass


def _log(session: Session, moderator: Member, action: str, target, reason: str = "") -> None:
    kind = {Post: "post", Thread: "thread", Member: "member"}[type(target)]
    session.add(
        ModerationAction(
            moderator_id=moderator.id,
            action=action,
            target_type=kind,
            target_id=target.id,
            reason=(reason or "").strip()[:2000],
        )
    )
    session.flush()


def _require_editor(moderator: Member) -> None:
    if not moderator.is_editor:
        raise ModerationError("Only editors moderate.")


def _recount(session: Session, thread: Thread) -> None:
    """The public post count after a post appears or disappears."""
    thread.post_count = session.scalar(
        select(func.count()).where(
            Post.thread_id == thread.id, Post.private.is_(False), Post.status == "visible"
        )
    )


def set_post_status(
    session: Session, moderator: Member, post: Post, status: str, reason: str = ""
) -> None:
    """``hidden`` (reversible), ``visible`` (unhide) or ``deleted`` (words wiped for good)."""
    _require_editor(moderator)
    if post.status == "deleted":
        raise ModerationError("That post is deleted.")
    action = {"hidden": "hide", "visible": "unhide", "deleted": "delete"}[status]
    post.status = status
    if status == "deleted":
        post.body_markdown = ""
        post.body_html = ""
    _recount(session, post.thread)
    _resolve_reports(session, post, {"hidden": "hidden", "deleted": "deleted"}.get(status))
    _log(session, moderator, action, post, reason)


def delete_own_post(session: Session, member: Member, post: Post) -> None:
    """A member removing what they wrote (within the edit window, like an edit)."""
    if not access.can_edit_post(member, post):
        raise ModerationError("You cannot delete that post.")
    post.status = "deleted"
    post.body_markdown = post.body_html = ""
    _recount(session, post.thread)
    session.flush()


def set_thread_flag(
    session: Session, moderator: Member, thread: Thread, flag: str, on: bool, reason: str = ""
) -> None:
    """Lock/unlock, pin/unpin or hide/unhide a thread."""
    _require_editor(moderator)
    if flag not in ("locked", "pinned", "hidden"):
        raise ModerationError(f"Unknown thread flag {flag!r}.")
    setattr(thread, flag, on)
    names = {"locked": ("lock", "unlock"), "pinned": ("pin", "unpin"), "hidden": ("hide", "unhide")}
    _log(session, moderator, names[flag][0 if on else 1] + "-thread", thread, reason)


def suspend(
    session: Session, moderator: Member, member: Member, until: datetime | None, reason: str = ""
) -> None:
    """Stop ``member`` posting until ``until`` (None lifts the suspension)."""
    _require_editor(moderator)
    if member.is_editor:
        raise ModerationError("Editors cannot be suspended.")
    if until is not None and until <= utcnow():
        raise ModerationError("A suspension must end in the future.")
    member.posting_suspended_until = until
    _log(session, moderator, "suspend" if until else "unsuspend", member, reason)


def report_post(session: Session, reporter: Member, post: Post, reason: str = "") -> bool:
    """A member flags a post for the moderators; False when they had already reported it."""
    if not access.can_read_thread(reporter, post.thread) or not access.can_see_post(reporter, post):
        raise ModerationError("That post is not there.")
    try:
        with session.begin_nested():
            session.add(
                PostReport(post_id=post.id, reporter_id=reporter.id, reason=reason.strip()[:2000])
            )
    except IntegrityError:
        return False
    return True


def dismiss_reports(session: Session, moderator: Member, post: Post, reason: str = "") -> None:
    _require_editor(moderator)
    _resolve_reports(session, post, "dismissed")
    _log(session, moderator, "dismiss-reports", post, reason)


def _resolve_reports(session: Session, post: Post, resolution: str | None) -> None:
    if resolution is None:
        return
    session.execute(
        update(PostReport)
        .where(PostReport.post_id == post.id, PostReport.resolved_at.is_(None))
        .values(resolved_at=utcnow(), resolution=resolution)
    )
    session.flush()
