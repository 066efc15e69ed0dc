"""What moderators do to posts, threads and members, each written to the audit log.

Hiding is reversible; deleting wipes the words but keeps a tombstone (replies keep their
place); a suspension stops a member posting until a time, without touching their membership.
Only editors moderate: callers check ``member.is_editor`` before calling (the admin's views do).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import utcnow
from app.discussions.models import ModerationAction, Post, PostReport, Thread
from app.members import access
from app.members.models import Member
from app.pagination import Page

# "Until lifted" is a date no one reaches (year 9999 stays valid in any time zone), so the
# one column ``posting_suspended_until`` says it and the posting rule needs no special case.
UNTIL_LIFTED = datetime(9999, 1, 1, tzinfo=UTC)
SUSPENSIONS = {
    "1d": ("1 day", timedelta(days=1)),
    "7d": ("7 days", timedelta(days=7)),
    "30d": ("30 days", timedelta(days=30)),
    "lifted": ("until lifted", None),
}
ACTIONS = (
    "hide", "unhide", "delete", "dismiss-reports", "suspend", "unsuspend",
    "lock-thread", "unlock-thread", "pin-thread", "unpin-thread", "hide-thread", "unhide-thread",
)  # fmt: skip
RECENT = timedelta(days=30)


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
    if post.status == status:
        raise ModerationError(f"That post is already {status}.")
    action = {"hidden": "hide", "visible": "unhide", "deleted": "delete"}.get(status)
    if action is None:
        raise ModerationError(f"Unknown post status {status!r}.")
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
    if until is None and not access.is_suspended(member):
        raise ModerationError("That member is not suspended.")
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


def suspension_end(choice: str, *, now: datetime | None = None) -> datetime:
    """When a suspension of the length ``choice`` (a key of ``SUSPENSIONS``) starting now ends."""
    if choice not in SUSPENSIONS:
        names = ", ".join(label for label, _ in SUSPENSIONS.values())
        raise ModerationError(f"Choose how long the suspension lasts: {names}.")
    length = SUSPENSIONS[choice][1]
    return UNTIL_LIFTED if length is None else (now or utcnow()) + length


# --- what the moderators look at ---------------------------------------------------------------


@dataclass(frozen=True)
class Suspension:
    until: datetime
    indefinite: bool  # lasts until a moderator lifts it


def suspension(member: Member, *, now: datetime | None = None) -> Suspension | None:
    """``member``'s posting suspension in force now, if any (a past end date is none)."""
    if not access.is_suspended(member, now=now):
        return None
    until = member.posting_suspended_until
    return Suspension(until, until >= UNTIL_LIFTED)


@dataclass
class Reported:
    """A post in the queue with its open reports, newest first, and who made each."""

    post: Post
    reports: list[tuple[PostReport, Member | None]] = field(default_factory=list)


@dataclass
class LogEntry:
    """An audit-log row with what its links need: the moderator, and the target member or the
    thread a post or thread target lives in (None when it is gone)."""

    action: ModerationAction
    moderator: Member | None
    member: Member | None = None
    thread_id: int | None = None


@dataclass
class PostingSummary:
    suspension: Suspension | None
    posts: int
    recent_posts: int  # written in the last ``RECENT``
    open_reports: int  # on their posts


def _queue_query() -> Select:
    """Posts with open reports (a deleted one has nothing left to judge), most-reported first,
    then by their newest report."""
    open_reports = (
        select(
            PostReport.post_id,
            func.count().label("reports"),
            func.max(PostReport.created_at).label("latest"),
        )
        .where(PostReport.resolved_at.is_(None))
        .group_by(PostReport.post_id)
        .subquery()
    )
    return (
        select(Post)
        .join(open_reports, open_reports.c.post_id == Post.id)
        .where(Post.status != "deleted")
        .order_by(open_reports.c.reports.desc(), open_reports.c.latest.desc(), Post.id.desc())
    )


def _hidden_query() -> Select:
    return select(Post).where(Post.status == "hidden").order_by(Post.id.desc())


def _suspended_query(now: datetime) -> Select:
    return (
        select(Member)
        .where(Member.posting_suspended_until > now)
        .order_by(Member.posting_suspended_until, Member.id)
    )


def _count(session: Session, query: Select) -> int:
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def _paginate(session: Session, query: Select, number: int, per_page: int) -> Page:
    """One page of ``query``. A number past the end gives the last page: the lists shrink as
    moderators act, and going back to page 3 of 2 should not be an error."""
    total = _count(session, query)
    number = min(max(1, number), max(1, -(-total // per_page)))
    items = session.scalars(query.limit(per_page).offset((number - 1) * per_page)).all()
    return Page(list(items), number, total, per_page)


def queue(session: Session, number: int = 1, per_page: int = 20) -> Page[Reported]:
    """The moderation queue: reported posts still to judge, what to look at first on top."""
    page = _paginate(session, _queue_query(), number, per_page)
    reports: dict[int, list[tuple[PostReport, Member | None]]] = {}
    if page.items:
        rows = session.execute(
            select(PostReport, Member)
            .outerjoin(Member, Member.id == PostReport.reporter_id)
            .where(
                PostReport.post_id.in_([post.id for post in page.items]),
                PostReport.resolved_at.is_(None),
            )
            .order_by(PostReport.created_at.desc(), PostReport.id.desc())
        )
        for report, reporter in rows:
            reports.setdefault(report.post_id, []).append((report, reporter))
    items = [Reported(post, reports.get(post.id, [])) for post in page.items]
    return Page(items, page.number, page.total, per_page)


def hidden_posts(session: Session, number: int = 1, per_page: int = 20) -> Page[Post]:
    """Posts hidden by a moderator, newest first: the ones that may deserve unhiding."""
    return _paginate(session, _hidden_query(), number, per_page)


def suspended_members(
    session: Session, number: int = 1, per_page: int = 50, *, now: datetime | None = None
) -> Page[Member]:
    """Members whose suspension is in force, the soonest to end first."""
    return _paginate(session, _suspended_query(now or utcnow()), number, per_page)


def tallies(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """How many reported posts, hidden posts and suspended members there are (for the tabs)."""
    return {
        "reported": _count(session, _queue_query()),
        "hidden": _count(session, _hidden_query()),
        "suspended": _count(session, _suspended_query(now or utcnow())),
    }


def log(
    session: Session,
    *,
    action: str = "",
    moderator_id: int | None = None,
    number: int = 1,
    per_page: int = 50,
) -> Page[LogEntry]:
    """The audit log, newest first, optionally of one action and one moderator."""
    if action and action not in ACTIONS:
        raise ModerationError(f"Unknown action {action!r}: choose one of {', '.join(ACTIONS)}.")
    query = select(ModerationAction).order_by(
        ModerationAction.created_at.desc(), ModerationAction.id.desc()
    )
    if action:
        query = query.where(ModerationAction.action == action)
    if moderator_id is not None:
        query = query.where(ModerationAction.moderator_id == moderator_id)
    page = _paginate(session, query, number, per_page)
    return Page(_entries(session, page.items), page.number, page.total, per_page)


def _entries(session: Session, actions: list[ModerationAction]) -> list[LogEntry]:
    """Load every moderator, member target and post's thread of one page in three queries."""

    def targets(kind: str) -> set[int]:
        return {row.target_id for row in actions if row.target_type == kind}

    member_ids = targets("member") | {row.moderator_id for row in actions if row.moderator_id}
    members = {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(member_ids)))}
    post_threads = dict(
        session.execute(select(Post.id, Post.thread_id).where(Post.id.in_(targets("post")))).all()
    )
    threads = {
        t: t for t in session.scalars(select(Thread.id).where(Thread.id.in_(targets("thread"))))
    }
    thread_of = {"post": post_threads, "thread": threads}
    return [
        LogEntry(
            row,
            members.get(row.moderator_id),
            members.get(row.target_id) if row.target_type == "member" else None,
            thread_of.get(row.target_type, {}).get(row.target_id),
        )
        for row in actions
    ]


def moderators(session: Session) -> list[Member]:
    """Who can appear in the log's moderator filter: editors, and anyone who once acted."""
    acted = select(ModerationAction.moderator_id).where(ModerationAction.moderator_id.is_not(None))
    return list(
        session.scalars(
            select(Member)
            .where(or_(Member.role == "editor", Member.id.in_(acted)))
            .order_by(Member.email)
        )
    )


def posting_summary(
    session: Session, member: Member, *, now: datetime | None = None
) -> PostingSummary:
    """What a moderator needs on a member's page: suspension, how much they post, and reports."""
    now = now or utcnow()
    written = select(func.count()).select_from(Post).where(Post.author_id == member.id)
    reports = (
        select(func.count())
        .select_from(PostReport)
        .join(Post, Post.id == PostReport.post_id)
        .where(Post.author_id == member.id, PostReport.resolved_at.is_(None))
    )
    return PostingSummary(
        suspension=suspension(member, now=now),
        posts=session.scalar(written) or 0,
        recent_posts=session.scalar(written.where(Post.created_at > now - RECENT)) or 0,
        open_reports=session.scalar(reports) or 0,
    )
