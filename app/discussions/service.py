"""Posting, editing, reacting and reading threads. Every surface (web, mailed replies, the
feedback inbox, the API) posts through ``create_post`` so the same rules hold everywhere:
the policy in ``members.access``, one level of replies, sanitized HTML, a rate limit, and a
mailed reply posted once however often it arrives.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, lazyload

from app import webhooks
from app.db import utcnow
from app.discussions.models import REACTIONS, Notification, Post, Reaction, ReadMarker, Thread
from app.discussions.rendering import render_post
from app.issues.models import Issue
from app.members import access
from app.members.models import Member
from app.upserts import insert_if_missing, upsert
from app.webhooks import payloads

MAX_BODY = 20_000  # characters of markdown
RATE_WINDOW = timedelta(minutes=10)
RATE_LIMIT = 20  # posts per member per window (editors are not limited)
AUTHOR = joinedload(Post.author)  # a post shows its author's name
# A thread's posts share the thread the caller holds: joining it (and its issue, body and
# all) onto every post row would copy it once per post.
ALREADY_LOADED_THREAD = lazyload(Post.thread)


class PostRefused(Exception):
    """A post, edit or reaction that may not happen. ``reason`` is a machine word (one of
    ``access.post_gate``'s, or ``empty``, ``too-long``, ``rate-limited``, ``not-found``,
    ``not-allowed``); the message is for people."""

    MESSAGES = {
        "sign-in": "Sign in to join the discussion.",
        "upgrade": "This discussion is for paid members.",
        "off": "The discussion of this issue is closed.",
        "locked": "This thread is locked.",
        "suspended": "You cannot post for now: a moderator suspended your posting.",
        "empty": "Write something first.",
        "too-long": f"That is too long: at most {MAX_BODY:,} characters.",
        "rate-limited": "You are posting very fast. Wait a few minutes and try again.",
        "not-found": "That post is not in this thread.",
        "not-allowed": "You cannot do that.",
    }

    def __init__(self, reason: str) -> None:
        super().__init__(self.MESSAGES.get(reason, reason))
        self.reason = reason


def issue_thread(session: Session, issue: Issue) -> Thread:
    """The issue's thread, made on first use (two processes making it at once get one)."""
    query = select(Thread).where(Thread.issue_id == issue.id)
    if (found := session.scalar(query)) is not None:
        return found
    row = {"kind": "issue", "issue_id": issue.id, "title": issue.title}
    insert_if_missing(session, Thread.__table__, row, keys=["issue_id"])
    return session.scalars(query).one()


def create_post(
    session: Session,
    author: Member,
    thread: Thread,
    body_markdown: str,
    *,
    parent_id: int | None = None,
    source: str = "web",
    private: bool = False,
    message_id: str | None = None,
    now: datetime | None = None,
) -> Post:
    """Post ``body_markdown`` as ``author`` in ``thread``; raises ``PostRefused``.

    A reply to a reply is attached to the top-level post (one level of nesting). A mailed
    reply (``message_id`` set) that was already posted returns the first post unchanged.
    """
    now = now or utcnow()
    if message_id:
        existing = session.scalar(select(Post).where(Post.message_id == message_id))
        if existing is not None:
            return existing
    if (reason := access.post_gate(author, thread, now=now)) is not None:
        raise PostRefused(reason)
    body = _checked_body(body_markdown)
    parent = _parent(session, thread, parent_id)
    if not author.is_editor and _recent_posts(session, author, now) >= RATE_LIMIT:
        raise PostRefused("rate-limited")
    post = Post(
        thread_id=thread.id,
        parent_id=parent.id if parent else None,
        author_id=author.id,
        body_markdown=body,
        body_html=render_post(body),
        source=source,
        private=private,
        is_answer=author.is_editor and parent is not None,
        message_id=message_id,
        created_at=now,
    )
    session.add(post)
    thread.last_post_at = now
    if not private:
        thread.post_count = (thread.post_count or 0) + 1
    author.last_replied_at = now
    session.flush()
    _notify(session, post, parent, thread)
    webhooks.emit(session, "reply.created", lambda: payloads.post(post))
    return post


def _checked_body(body_markdown: str) -> str:
    body = (body_markdown or "").replace("\r\n", "\n").strip()
    if not body:
        raise PostRefused("empty")
    if len(body) > MAX_BODY:
        raise PostRefused("too-long")
    return body


def _parent(session: Session, thread: Thread, parent_id: int | None) -> Post | None:
    if parent_id is None:
        return None
    parent = session.get(Post, parent_id)
    if parent is None or parent.thread_id != thread.id or parent.status == "deleted":
        raise PostRefused("not-found")
    if parent.parent_id is not None:  # one level: answer the conversation, not the reply
        parent = session.get(Post, parent.parent_id)
    return parent


def _recent_posts(session: Session, author: Member, now: datetime) -> int:
    since = now - RATE_WINDOW
    query = select(func.count()).where(Post.author_id == author.id, Post.created_at > since)
    return session.scalar(query) or 0


def _notify(session: Session, post: Post, parent: Post | None, thread: Thread) -> None:
    """Queue mail for the people a post answers: the conversation's starter and everyone who
    replied in it (``answer`` when an editor replies), and a forum topic's starter. A private
    post notifies nobody, except an editor's answer to its author."""
    recipients: dict[int, str] = {}
    kind = "answer" if post.is_answer else "reply"
    if parent is not None:
        if parent.author_id:
            recipients[parent.author_id] = kind
        if not post.private:
            repliers = session.scalars(
                select(Post.author_id).where(
                    Post.parent_id == parent.id,
                    Post.private.is_(False),
                    Post.author_id.is_not(None),
                )
            )
            for author_id in repliers:
                recipients.setdefault(author_id, kind)
    if thread.kind == "topic" and thread.author_id and not post.private:
        recipients.setdefault(thread.author_id, "reply")
    recipients.pop(post.author_id, None)
    if post.private and not post.is_answer:
        recipients.clear()
    for member_id, kind in recipients.items():
        session.add(Notification(post_id=post.id, member_id=member_id, kind=kind))
    session.flush()


def edit_post(
    session: Session, viewer: Member, post: Post, body_markdown: str, *, now: datetime | None = None
) -> Post:
    now = now or utcnow()
    if not access.can_edit_post(viewer, post, now=now):
        raise PostRefused("not-allowed")
    post.body_markdown = _checked_body(body_markdown)
    post.body_html = render_post(post.body_markdown)
    post.edited_at = now
    session.flush()
    return post


def toggle_reaction(session: Session, viewer: Member, post: Post, kind: str) -> bool:
    """Add ``viewer``'s reaction, or take it back if it was there; True when it is now on."""
    if kind not in REACTIONS or post.status != "visible":
        raise PostRefused("not-allowed")
    if not access.can_read_thread(viewer, post.thread) or not access.can_see_post(viewer, post):
        raise PostRefused("not-found")
    if access.post_gate(viewer, post.thread) in ("sign-in", "upgrade", "off", "suspended"):
        raise PostRefused("not-allowed")
    existing = session.scalar(
        select(Reaction).where(
            Reaction.post_id == post.id, Reaction.member_id == viewer.id, Reaction.kind == kind
        )
    )
    if existing is not None:
        session.delete(existing)
        session.flush()
        return False
    try:
        with session.begin_nested():
            session.add(Reaction(post_id=post.id, member_id=viewer.id, kind=kind))
    except IntegrityError:  # the same click twice at once
        pass
    return True


@dataclass
class ShownPost:
    """A post as one viewer sees it, with its replies (one level) and reactions."""

    post: Post
    replies: list[ShownPost] = field(default_factory=list)
    reactions: dict[str, int] = field(default_factory=dict)
    mine: set[str] = field(default_factory=set)
    can_edit: bool = False

    @property
    def tombstone(self) -> bool:
        return self.post.status == "deleted"


def shown_posts(
    session: Session, viewer: Any, thread: Thread, *, now: datetime | None = None
) -> list[ShownPost]:
    """The thread as ``viewer`` may see it: top-level posts oldest first, each with its replies.

    Raises ``PostRefused("not-found")`` when the viewer may not read the thread at all. A
    deleted post with replies stays as a tombstone so the replies keep their context.
    """
    if not access.can_read_thread(viewer, thread):
        raise PostRefused("not-found")
    posts = session.scalars(
        select(Post)
        .where(Post.thread_id == thread.id)
        .order_by(Post.created_at, Post.id)
        .options(AUTHOR, ALREADY_LOADED_THREAD)
    ).all()
    visible = [post for post in posts if access.can_see_post(viewer, post)]
    counts, mine = _reactions(session, viewer, [post.id for post in visible])
    shown = {
        post.id: ShownPost(
            post,
            reactions=counts.get(post.id, {}),
            mine=mine.get(post.id, set()),
            can_edit=access.can_edit_post(viewer, post, now=now),
        )
        for post in visible
    }
    top: list[ShownPost] = []
    for post in visible:
        if post.parent_id is not None and post.parent_id in shown:
            shown[post.parent_id].replies.append(shown[post.id])
        elif post.parent_id is None:
            top.append(shown[post.id])
    return [item for item in top if not item.tombstone or item.replies]


def _reactions(
    session: Session, viewer: Any, post_ids: list[int]
) -> tuple[dict[int, dict[str, int]], dict[int, set[str]]]:
    """Each post's count per kind, and the kinds the viewer chose: one grouped statement."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    mine: dict[int, set[str]] = defaultdict(set)
    if not post_ids:
        return counts, mine
    viewer_id = getattr(viewer, "id", None) if getattr(viewer, "is_authenticated", False) else None
    chosen = (
        func.count(case((Reaction.member_id == viewer_id, 1)))
        if viewer_id is not None
        else literal(0)  # anonymous: no reaction is theirs, not even an erased member's
    )
    rows = session.execute(
        select(Reaction.post_id, Reaction.kind, func.count(), chosen)
        .where(Reaction.post_id.in_(post_ids))
        .group_by(Reaction.post_id, Reaction.kind)
    )
    for post_id, kind, count, own in rows:
        counts[post_id][kind] = count
        if own:
            mine[post_id].add(kind)
    return counts, mine


def mark_read(session: Session, member: Member, thread: Thread, *, now: datetime | None = None):
    """Everything in ``thread`` up to now is read by ``member`` (for unread markers). Nothing
    is written when nothing was posted since their last visit: a page view stays a read.

    It runs in a page's autocommitted ``reading``: the write is one upsert, which also holds
    when two tabs write at once, and it does not wait for the disk (a marker lost in a database
    crash only shows "new" again). An upsert that changes nothing would still lock the row, so
    the marker is read first."""
    now = now or utcnow()
    markers = ReadMarker.__table__
    known = select(markers.c.read_at).where(
        markers.c.member_id == member.id, markers.c.thread_id == thread.id
    )
    if (read_at := session.scalar(known)) is not None and read_at >= min(now, thread.last_post_at):
        return
    upsert(
        session,
        markers,
        [{"member_id": member.id, "thread_id": thread.id, "read_at": now}],
        keys=["member_id", "thread_id"],
        changes=lambda new: {"read_at": new.read_at},
        only_if=markers.c.read_at < min(now, thread.last_post_at),
        wait_for_disk=False,
    )
