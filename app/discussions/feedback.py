"""The editor's feedback inbox: what members wrote on issues' threads, and what editors do
with it — mark it handled, or answer it.

Every member's post on an issue's thread is feedback, public or private, from the web or by
mail; an editor's own posts are not (their answers show under what they answer). Answering
posts through ``service.create_post``, so the member is notified like any other reply, and an
answer to private feedback stays private between the member and the editors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.discussions import service
from app.discussions.models import Post, Thread
from app.issues.models import Issue
from app.members.models import Member
from app.pagination import Page

PER_PAGE = 25


@dataclass(frozen=True)
class InboxFilters:
    issue_id: int | None = None
    tier: str | None = None  # the author's tier now: free | paid | invite
    source: str | None = None  # web | email
    unhandled: bool = False
    private: bool = False


@dataclass(frozen=True)
class Inbox:
    page: Page[Post]
    answers: dict[int, list[Post]]  # editors' answers by the post they answer
    unhandled: int  # of the posts matching the filters (ignoring "unhandled only")
    total: int


def _conditions(filters: InboxFilters) -> list:
    conditions = [
        Thread.kind == "issue",
        Post.status != "deleted",
        or_(Member.id.is_(None), Member.role != "editor"),
    ]
    if filters.issue_id is not None:
        conditions.append(Thread.issue_id == filters.issue_id)
    if filters.tier:
        conditions.append(Member.tier == filters.tier)
    if filters.source:
        conditions.append(Post.source == filters.source)
    if filters.private:
        conditions.append(Post.private.is_(True))
    return conditions


def _feedback(query, conditions: list):
    return (
        query.join(Thread, Post.thread_id == Thread.id)
        .outerjoin(Member, Post.author_id == Member.id)
        .where(*conditions)
    )


def inbox(session: Session, filters: InboxFilters, number: int, per_page: int = PER_PAGE) -> Inbox:
    """One page of feedback, newest first (a page past the end shows the last one)."""
    conditions = _conditions(filters)
    unhandled_case = case((Post.handled_at.is_(None), 1), else_=0)
    counts = select(func.count(Post.id), func.coalesce(func.sum(unhandled_case), 0))
    total, unhandled = session.execute(_feedback(counts.select_from(Post), conditions)).one()
    if filters.unhandled:
        conditions.append(Post.handled_at.is_(None))
    shown = unhandled if filters.unhandled else total
    number = max(1, min(number, -(-shown // per_page)))
    posts = session.scalars(
        _feedback(select(Post), conditions)
        .order_by(Post.created_at.desc(), Post.id.desc())
        .offset((number - 1) * per_page)
        .limit(per_page)
    ).all()
    return Inbox(
        Page(list(posts), number, shown, per_page),
        answers_to(session, [post.id for post in posts]),
        unhandled,
        total,
    )


def answers_to(session: Session, post_ids: list[int]) -> dict[int, list[Post]]:
    answers: dict[int, list[Post]] = {}
    if not post_ids:
        return answers
    found = session.scalars(
        select(Post)
        .where(Post.parent_id.in_(post_ids), Post.is_answer.is_(True), Post.status != "deleted")
        .order_by(Post.created_at, Post.id)
    )
    for answer in found:
        answers.setdefault(answer.parent_id, []).append(answer)
    return answers


def feedback_post(session: Session, post_id: int) -> Post | None:
    """The post if it is feedback the inbox shows (on an issue's thread, not deleted, not an
    editor's own), else None."""
    query = _feedback(select(Post), _conditions(InboxFilters())).where(Post.id == post_id)
    return session.scalar(query)


def issues_with_feedback(session: Session) -> list[tuple[int, str]]:
    """(id, title) of issues that have a thread, newest first: the inbox's issue filter."""
    query = (
        select(Issue.id, Issue.title)
        .join(Thread, Thread.issue_id == Issue.id)
        .order_by(Issue.id.desc())
    )
    return [(issue_id, title) for issue_id, title in session.execute(query)]


def set_handled(
    session: Session, editor: Member, post: Post, handled: bool, *, now: datetime | None = None
) -> None:
    if not editor.is_editor:
        raise service.PostRefused("not-allowed")
    post.handled_at = (now or utcnow()) if handled else None
    session.flush()


def answer(
    session: Session, editor: Member, post: Post, body_markdown: str, *, now: datetime | None = None
) -> Post:
    """Post the editor's answer under ``post`` (private when it is) and mark it handled.

    The posting service writes the member's ``answer`` notification; the caller queues the
    mail (``notifications.enqueue()``) once this commits. Raises ``service.PostRefused``.
    """
    if not editor.is_editor:
        raise service.PostRefused("not-allowed")
    now = now or utcnow()
    answered = service.create_post(
        session,
        editor,
        post.thread,
        body_markdown,
        parent_id=post.id,
        private=post.private,
        now=now,
    )
    post.handled_at = now
    session.flush()
    return answered
