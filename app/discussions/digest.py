"""The daily digest: for members who asked for it, at most once a day, the new public posts of
the last day in threads they may read, grouped by thread. Nothing new, no email.

``Member.last_digest_at`` is the claim: a conditional UPDATE moves it only for a member whose
digest is due, in the transaction that sends it (mailing.py), so two workers at once send one
digest and a crash before the commit sends it again at most once. Each thread is checked with
``access.can_read_thread``: a paid board's or paid issue's posts never reach a free member.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import nh3
from sqlalchemy import Row, func, or_, select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.discussions.mailing import NOTHING, TAKEN, Outgoing, publication_name
from app.discussions.models import Post, Thread
from app.discussions.notifications import author_name
from app.members import access
from app.members.models import Member

DIGEST_JOB = "app.discussions.jobs.send_digests"
PERIOD = timedelta(hours=24)
LOOKBACK = timedelta(days=7)  # after a long pause, a digest covers at most this much
BATCH = 500  # members per job; more due gets another job
MAX_POSTS = 2000  # posts read per run: the digest is a summary, not an archive
MAX_THREADS = 15
POSTS_PER_THREAD = 3
EXCERPT_CHARS = 240


def _due_where(now: datetime):
    return (
        Member.email_digest.is_(True),
        Member.status == "active",
        or_(Member.last_digest_at.is_(None), Member.last_digest_at <= now - PERIOD),
    )


def due(session: Session, now: datetime, *, limit: int | None = BATCH) -> list[Row]:
    """(id, last_digest_at) of members whose digest is due, lowest id first."""
    query = select(Member.id, Member.last_digest_at).where(*_due_where(now))
    return list(session.execute(query.order_by(Member.id).limit(limit)))


def window_start(last_digest_at: datetime | None, now: datetime) -> datetime:
    """Since the last digest, or a day back for the first one; never more than LOOKBACK."""
    return max(last_digest_at or now - PERIOD, now - LOOKBACK)


def count_due(session: Session, now: datetime) -> int:
    return session.scalar(select(func.count()).select_from(Member).where(*_due_where(now))) or 0


def batch(
    session: Session, now: datetime, *, limit: int | None = BATCH
) -> tuple[list[Row], list[Post]]:
    """The next members due and the posts their digests draw on (read once for all)."""
    members = due(session, now, limit=limit)
    since = min((window_start(last, now) for _, last in members), default=now)
    return members, (recent_posts(session, since) if members else [])


def preview(session: Session, now: datetime) -> list[tuple[Member, list[ThreadNews]]]:
    """What every member due would get, claiming nothing (``kith digest --dry-run``)."""
    members, posts = batch(session, now, limit=None)
    previews = []
    for member_id, last in members:
        member = session.get(Member, member_id)
        previews.append((member, news_for(member, posts, window_start(last, now))))
    return previews


def recent_posts(session: Session, since: datetime) -> list[Post]:
    """Public, visible posts after ``since`` in threads that are not hidden, oldest first."""
    query = (
        select(Post)
        .join(Thread, Post.thread_id == Thread.id)
        .where(
            Post.created_at > since,
            Post.private.is_(False),
            Post.status == "visible",
            Thread.hidden.is_(False),
        )
        .order_by(Post.created_at, Post.id)
        .limit(MAX_POSTS)
    )
    return list(session.scalars(query))


@dataclass
class ThreadNews:
    """A thread's new posts for one member: the first few, and how many more."""

    thread: Thread
    posts: list[Post] = field(default_factory=list)
    count: int = 0


def news_for(member: Member, posts: list[Post], since: datetime) -> list[ThreadNews]:
    """What ``member`` may read among ``posts`` after ``since``, busiest thread first; their
    own posts are no news to them."""
    grouped: dict[int, ThreadNews] = {}
    readable: dict[int, bool] = {}
    for post in posts:
        if post.created_at <= since or post.author_id == member.id:
            continue
        thread = post.thread
        if thread.id not in readable:
            readable[thread.id] = access.can_read_thread(member, thread)
        if not readable[thread.id]:
            continue
        news = grouped.setdefault(thread.id, ThreadNews(thread))
        news.count += 1
        if len(news.posts) < POSTS_PER_THREAD:
            news.posts.append(post)
    busiest = sorted(grouped.values(), key=lambda news: (-news.count, -news.thread.id))
    return busiest[:MAX_THREADS]


def claim(session: Session, member_id: int, now: datetime) -> tuple[Member, datetime] | None:
    """Take ``member_id``'s digest for today: (member, the previous last_digest_at), or None
    when it is not due (sent already, turned off, or another worker has just taken it)."""
    member = session.get(Member, member_id)
    if member is None:
        return None
    previous = member.last_digest_at
    taken = session.execute(
        update(Member)
        .where(Member.id == member_id, *_due_where(now))
        .values(last_digest_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        return None
    return member, previous


def prepare(
    session: Session, member_id: int, *, settings: Settings, posts: list[Post], now: datetime
) -> Outgoing | str:
    """Claim the member's digest and say what to mail, NOTHING (claimed, nothing new) or TAKEN.

    ``posts`` were read at ``now`` or later, so what comes after ``now`` is in tomorrow's."""
    claimed = claim(session, member_id, now)
    if claimed is None:
        return TAKEN
    member, previous = claimed
    news = news_for(member, posts, window_start(previous, now))
    if not news:
        return NOTHING
    return outgoing(settings, member, news, publication_name(session, settings))


def outgoing(
    settings: Settings, member: Member, news: list[ThreadNews], publication: str
) -> Outgoing:
    total = sum(item.count for item in news)
    posts = "a new post" if total == 1 else f"{total} new posts"
    where = "one discussion" if len(news) == 1 else f"{len(news)} discussions"
    return Outgoing(
        to_name=member.name,
        to_address=member.email,
        subject=f"{publication}: {posts} in {where}",
        template="digest",
        context={"summary": f"{posts} in {where}".capitalize(), "threads": _shown(settings, news)},
    )


def _shown(settings: Settings, news: list[ThreadNews]) -> list[dict[str, object]]:
    return [
        {
            "title": item.thread.title or (item.thread.issue.title if item.thread.issue else ""),
            "place": _place(item.thread),
            "url": settings.url(f"/t/{item.thread.id}"),
            "more": item.count - len(item.posts),
            "posts": [
                {
                    "author": author_name(post),
                    "excerpt": excerpt(post.body_html),
                    "url": settings.url(f"/t/{item.thread.id}#post-{post.id}"),
                }
                for post in item.posts
            ],
        }
        for item in news
    ]


def _place(thread: Thread) -> str:
    if thread.kind == "issue":
        return "Issue discussion"
    return f"Forum · {thread.board.name}" if thread.board else "Forum"


def excerpt(body_html: str, limit: int = EXCERPT_CHARS) -> str:
    """A post's words as one line of plain text, cut at a word near ``limit``."""
    text = " ".join(html.unescape(nh3.clean(body_html, tags=set())).split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",.;:") + "…"
