"""What the API does, in the domains' own words: it lists with cursors and otherwise calls
the services the editor's pages call (``members.audience``, ``members.tiers``,
``issues.service``, ``sending.service``, ``discussions.service``), so an edit through the
API follows exactly the rules of the same edit in the admin.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from app.api.pagination import Key, Slice, Window, cut
from app.db import utcnow
from app.discussions import service as discussions
from app.discussions.models import Board, Thread
from app.issues.models import Issue
from app.members import access, accounts, audience, segments, subscriptions, tiers
from app.members import service as members
from app.members.models import Member

MAX_ID = 2**31 - 1  # ids beyond a 32-bit integer exist nowhere (PostgreSQL would refuse them)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A time a moment ago is "now"; older, it is a mistake worth saying so (as in the admin).
PAST_TOLERANCE = timedelta(minutes=1)


class Conflict(ValueError):
    """The request clashes with what exists (a member with that address)."""


class Invalid(ValueError):
    """A value the domain refuses; ``field`` names the one at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def get(session: Session, model: type, ident: int) -> Any:
    """The row with this id, or None (also for ids no integer column can hold)."""
    return session.get(model, ident) if 0 < ident <= MAX_ID else None


def _id(row: Any) -> Key:
    return (row.id,)


def _after(query: Select, column: Any, wanted: Window) -> Select:
    if wanted.after is not None:
        query = query.where(column > wanted.after[0])
    return query.order_by(column).limit(wanted.limit + 1)


# --- members ------------------------------------------------------------------------------


def list_members(
    session: Session, wanted: Window, *, segment: str | None, email: str | None
) -> Slice[Member]:
    """Members by id, filtered by a segment expression (SegmentError) and an address."""
    query = select(Member).options(selectinload(Member.tags))
    if segment is not None:
        query = query.where(segments.where(segment))
    if email is not None:
        query = query.where(Member.email == members.normalize_email(email))
    return cut(session.scalars(_after(query, Member.id, wanted)).all(), wanted, _id)


def create_member(session: Session, values: Mapping[str, Any], *, by: str) -> Member:
    """Add a member as the admin's "add member" does (active, consent recorded as ``added``
    by ``by``), with custom fields. Conflict if the address is taken."""
    email = members.normalize_email(values["email"])
    if members.find_by_email(session, email) is not None:
        raise Conflict(f"{email} is already a member.")
    try:
        with session.begin_nested():
            member = audience.add_member(
                session, email, name=values.get("name") or "", tier=values.get("tier") or "free",
                tags=values.get("tags") or (), editor=by,
            )  # fmt: skip
            member.fields = dict(values.get("fields") or {})
            session.flush()
    except IntegrityError:  # the same address added at the same moment
        raise Conflict(f"{email} is already a member.") from None
    return member


def update_member(
    session: Session, member: Member, values: Mapping[str, Any], *, by: str
) -> Member:
    """Change a member's name, tier (``tiers.set_by_editor``), fields, or unsubscribe them.

    A status other than ``unsubscribed`` is refused: confirming, bouncing and complaining
    are facts only the member or their mail server can make true.
    """
    if values.get("status") not in (None, "unsubscribed"):
        raise Invalid("status", "Through the API a member can only be unsubscribed.")
    if values.get("name") is not None:
        accounts.update_profile(session, member, name=values["name"])
    if values.get("tier") is not None:
        tiers.set_by_editor(session, member, values["tier"])
    if values.get("fields") is not None:
        merged = dict(member.fields or {})
        for name, value in values["fields"].items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        member.fields = merged
    if values.get("status") == "unsubscribed":
        subscriptions.stop_bulk_mail(session, member, source="api", detail=f"by {by}")
    session.flush()
    return member


def tag(session: Session, member: Member, names: list[str], *, add: bool) -> Member:
    """Add tags to (or remove one from) a member; repeating it changes nothing."""
    audience.set_tags(session, [member.id], names, add=add)
    session.refresh(member)
    return member


# --- issues -------------------------------------------------------------------------------


def list_issues(session: Session, wanted: Window, *, status: str | None) -> Slice[Issue]:
    """Every issue, drafts too (tokens are editors'), by id."""
    query = select(Issue)
    if status is not None:
        query = query.where(Issue.status == status)
    return cut(session.scalars(_after(query, Issue.id, wanted)).all(), wanted, _id)


def find_issue(session: Session, ref: str) -> Issue | None:
    """An issue by id or, failing that, by slug (a slug may be all digits)."""
    if ref.isascii() and ref.isdigit():
        found = get(session, Issue, int(ref))
        if found is not None:
            return found
    return session.scalar(select(Issue).where(Issue.slug == ref))


def send_moment(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """When to send: None for now, else an ISO 8601 time (UTC without a zone), not past."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise Invalid("at", "at must be an ISO 8601 time such as 2026-12-01T08:00:00Z.") from None
    if moment < (now or utcnow()) - PAST_TOLERANCE:
        raise Invalid("at", "at has passed: give a later time, or leave it out to send now.")
    return moment


# --- threads ------------------------------------------------------------------------------


def list_threads(
    session: Session,
    viewer: Any,
    wanted: Window,
    *,
    issue: Issue | None = None,
    board: Board | None = None,
) -> Slice[Thread]:
    """Threads ``viewer`` may read, by id: one issue's, one board's, or all."""
    query = select(Thread)
    if issue is not None:
        query = query.where(Thread.issue_id == issue.id)
    if board is not None:
        if not access.can_read_board(viewer, board):
            return Slice([], None)
        query = query.where(Thread.board_id == board.id)
    found = session.scalars(_after(query, Thread.id, wanted)).all()
    return cut(found, wanted, _id, keep=lambda thread: access.can_read_thread(viewer, thread))


def board_by_slug(session: Session, slug: str) -> Board | None:
    return session.scalar(select(Board).where(Board.slug == slug))


def post_key(shown: discussions.ShownPost) -> Key:
    """Where a top-level post sits in its thread: its time (in microseconds), then its id."""
    return ((shown.post.created_at - EPOCH) // timedelta(microseconds=1), shown.post.id)


def thread_posts(
    session: Session, viewer: Any, thread: Thread, wanted: Window
) -> Slice[discussions.ShownPost]:
    """One window of the thread's top-level posts (with their replies) as ``viewer`` sees
    it; PostRefused if they may not read it."""
    shown = discussions.shown_posts(session, viewer, thread)
    if wanted.after is not None:
        shown = [item for item in shown if post_key(item) > wanted.after]
    return cut(shown, wanted, post_key)
