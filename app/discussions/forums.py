"""The forum as readers see it: boards with their counts, a board's topics with unread markers,
starting a topic, and marking topics read.

What a viewer may read or post is asked of ``members.access`` (by board, and by a probe
topic where the policy is phrased per thread); this module only turns its answers into SQL so
that a page of topics, with its unread markers, is one query however long the page is.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nh3
from sqlalchemy import ColumnElement, and_, case, false, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, lazyload

from app.db import utcnow
from app.discussions import service
from app.discussions.models import Board, Post, ReadMarker, Thread
from app.members import access
from app.members.models import Member
from app.pagination import Page

MAX_TITLE = 200
TOPICS_PER_PAGE = 30
MAX_PAGE = 10_000
NIL = (0, None, 0)  # a board without topics: none, no activity, nothing unread
# A topic list shows the starter's name, and a topic has no issue to join.
TOPIC_ONLY = (lazyload(Thread.issue), joinedload(Thread.author))


class TopicError(ValueError):
    """A topic title that cannot be used; the message says why, for people."""


@dataclass(frozen=True)
class BoardSummary:
    """One line of the forum's index as one viewer sees it."""

    board: Board
    readable: bool
    gate: str | None  # what would open it: "sign-in" or "upgrade" (None when readable)
    topics: int
    last_activity: datetime | None
    unread: int


@dataclass(frozen=True)
class TopicRow:
    thread: Thread
    unread: bool

    @property
    def replies(self) -> int:
        return max(0, (self.thread.post_count or 0) - 1)


def probe_topic(board: Board, *, hidden: bool = False) -> Thread:
    """An unsaved topic on ``board``, to ask the thread-level policy about the board."""
    return Thread(kind="topic", board=board, board_id=board.id, hidden=hidden, locked=False)


def board_gate(viewer: Any, board: Board) -> str | None:
    """None when ``viewer`` reads ``board``; else what would let them: "sign-in" or "upgrade"."""
    if access.can_read_board(viewer, board):
        return None
    return "sign-in" if access.post_gate(viewer, probe_topic(board)) == "sign-in" else "upgrade"


def start_gate(viewer: Any, board: Board, *, now: datetime | None = None) -> str | None:
    """What stops ``viewer`` starting a topic on ``board`` (``access.post_gate``'s words)."""
    return access.post_gate(viewer, probe_topic(board), now=now)


def _member_id(viewer: Any) -> int | None:
    return getattr(viewer, "id", None) if getattr(viewer, "is_authenticated", False) else None


def _listed(viewer: Any, board: Board) -> ColumnElement[bool]:
    """Topics of ``board`` the viewer may see listed (hidden ones only if the policy says so)."""
    clause = and_(Thread.board_id == board.id, Thread.kind == "topic")
    if not access.can_read_thread(viewer, probe_topic(board, hidden=True)):
        clause = and_(clause, Thread.hidden.is_(False))
    return clause


def _unread(viewer: Any) -> ColumnElement[bool]:
    """A topic is unread when it moved after the member's read marker, or, with no marker,
    after they joined. Needs the outer join made by ``_with_markers``."""
    if _member_id(viewer) is None:
        return false()
    return or_(
        and_(ReadMarker.read_at.is_not(None), Thread.last_post_at > ReadMarker.read_at),
        and_(ReadMarker.read_at.is_(None), Thread.last_post_at > viewer.created_at),
    )


def _with_markers(query, viewer: Any):
    """Join the viewer's read markers (nothing to join for an anonymous reader)."""
    member_id = _member_id(viewer)
    if member_id is None:
        return query
    on = and_(ReadMarker.thread_id == Thread.id, ReadMarker.member_id == member_id)
    return query.outerjoin(ReadMarker, on)


def all_boards(session: Session) -> list[Board]:
    return list(session.scalars(select(Board).order_by(Board.position, Board.id)))


def board_by_slug(session: Session, slug: str) -> Board | None:
    return session.scalar(select(Board).where(Board.slug == slug))


def board_index(session: Session, viewer: Any) -> list[BoardSummary]:
    """Every board in order, with its topic count, latest activity and the viewer's unread
    count; boards the viewer cannot read are listed too, with what would open them."""
    boards = all_boards(session)
    readable = [board for board in boards if access.can_read_board(viewer, board)]
    stats: dict[int, tuple[int, datetime | None, int]] = {}
    if readable:
        unread = func.sum(case((_unread(viewer), 1), else_=0))
        query = _with_markers(
            select(Thread.board_id, func.count(Thread.id), func.max(Thread.last_post_at), unread),
            viewer,
        )
        query = query.where(or_(*(_listed(viewer, board) for board in readable)))
        for board_id, count, latest, unread_count in session.execute(
            query.group_by(Thread.board_id)
        ):
            stats[board_id] = (count, latest, int(unread_count or 0))
    return [
        BoardSummary(board, board in readable, board_gate(viewer, board), *stats.get(board.id, NIL))
        for board in boards
    ]


def topics_page(
    session: Session, viewer: Any, board: Board, number: int, *, per_page: int = TOPICS_PER_PAGE
) -> Page[TopicRow]:
    """One page of ``board``'s topics, pinned first, then by last activity; ``viewer`` must
    be able to read the board (the caller asks ``board_gate`` first)."""
    listed = _listed(viewer, board)
    total = session.scalar(select(func.count(Thread.id)).where(listed)) or 0
    query = _with_markers(select(Thread, _unread(viewer).label("unread")), viewer).where(listed)
    rows = session.execute(
        query.options(*TOPIC_ONLY)
        .order_by(Thread.pinned.desc(), Thread.last_post_at.desc(), Thread.id.desc())
        .limit(per_page)
        .offset((max(1, number) - 1) * per_page)
    )
    items = [TopicRow(thread, bool(unread)) for thread, unread in rows]
    return Page(items, max(1, number), total, per_page)


def checked_title(title: str) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise TopicError("A topic needs a title.")
    if len(title) > MAX_TITLE:
        raise TopicError(f"That title is too long: at most {MAX_TITLE} characters.")
    return title


def create_topic(
    session: Session,
    author: Member,
    board: Board,
    title: str,
    body_markdown: str,
    *,
    now: datetime | None = None,
) -> Thread:
    """Start a topic on ``board``: the thread and its first post, or neither.

    Raises ``TopicError`` for a bad title and ``service.PostRefused`` when the policy, the
    rate limit or the body refuses the post; the savepoint then leaves nothing behind.
    """
    now = now or utcnow()
    title = checked_title(title)
    if (reason := start_gate(author, board, now=now)) is not None:
        raise service.PostRefused(reason)
    thread = Thread(
        kind="topic", board=board, title=title, author_id=author.id, created_at=now,
        last_post_at=now,
    )  # fmt: skip
    with session.begin_nested():
        session.add(thread)
        session.flush()
        service.create_post(session, author, thread, body_markdown, now=now)
    service.mark_read(session, author, thread, now=now)  # one's own topic is not news
    return thread


def mark_boards_read(
    session: Session, member: Member, boards: list[Board], *, now: datetime | None = None
) -> int:
    """Mark every topic ``member`` sees on ``boards`` read; returns how many were unread.

    A few statements whatever the number of topics: move the markers that exist, then add
    the missing ones (again if a thread view added one at the same moment).
    """
    now = now or utcnow()
    boards = [board for board in boards if access.can_read_board(member, board)]
    if not boards:
        return 0
    listed = or_(*(_listed(member, board) for board in boards))
    unread = session.scalar(
        _with_markers(select(func.count(Thread.id)), member).where(listed, _unread(member))
    )
    session.execute(
        update(ReadMarker)
        .where(
            ReadMarker.member_id == member.id,
            ReadMarker.thread_id.in_(select(Thread.id).where(listed)),
            ReadMarker.read_at < now,
        )
        .values(read_at=now)
        .execution_options(synchronize_session="fetch")
    )
    marked = select(ReadMarker.thread_id).where(ReadMarker.member_id == member.id)
    missing = select(
        literal(member.id, ReadMarker.member_id.type),
        Thread.id,
        literal(now, ReadMarker.read_at.type),
    ).where(listed, Thread.id.not_in(marked))
    for attempt in range(3):
        try:
            with session.begin_nested():
                session.execute(
                    insert(ReadMarker).from_select(["member_id", "thread_id", "read_at"], missing)
                )
            break
        except IntegrityError:  # a thread view marked one meanwhile: try the rest again
            if attempt == 2:
                raise
    return unread or 0


# --- search ------------------------------------------------------------------------------------

MIN_QUERY, MAX_QUERY, MAX_WORDS = 2, 100, 8
RESULTS_PER_PAGE, MAX_RESULT_PAGES = 20, 25
SNIPPET_BEFORE, SNIPPET_LENGTH = 60, 220


class SearchError(ValueError):
    """A search that cannot run as asked; the message says why."""


Marked = list[tuple[str, bool]]  # pieces of text, True where a searched word matched


@dataclass(frozen=True)
class SearchHit:
    post: Post
    title: Marked
    snippet: Marked

    @property
    def thread(self) -> Thread:
        return self.post.thread


def search_words(query: str) -> list[str]:
    """The words to look for (each must appear); raises ``SearchError`` for unusable queries."""
    query = " ".join((query or "").split())
    if len(query) > MAX_QUERY:
        raise SearchError(f"Search for at most {MAX_QUERY} characters.")
    words = list(dict.fromkeys(word.lower() for word in query.split(" ") if word))[:MAX_WORDS]
    if sum(len(word) for word in words) < MIN_QUERY:
        raise SearchError(f"Search for at least {MIN_QUERY} characters.")
    return words


def like_pattern(word: str) -> str:
    """``%word%`` with LIKE's own wildcards taken literally (escape character ``\\``)."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(
    session: Session,
    viewer: Any,
    words: list[str],
    boards: list[Board],
    number: int = 1,
    *,
    per_page: int = RESULTS_PER_PAGE,
) -> Page[SearchHit]:
    """Visible public posts on readable ``boards`` whose text, or whose topic's title (for a
    topic's first post), holds every word; newest first. Hidden topics and hidden, deleted
    or private posts are never found, whoever searches."""
    board_ids = [board.id for board in boards if access.can_read_board(viewer, board)]
    if not board_ids or not words:
        return Page([], 1, 0, per_page)
    first_post = (
        select(func.min(Post.id)).where(Post.thread_id == Thread.id).correlate(Thread)
    ).scalar_subquery()
    matches = [
        or_(
            Post.body_markdown.ilike(like_pattern(word), escape="\\"),
            and_(Thread.title.ilike(like_pattern(word), escape="\\"), Post.id == first_post),
        )
        for word in words
    ]
    where = and_(
        Thread.board_id.in_(board_ids),
        Thread.kind == "topic",
        Thread.hidden.is_(False),
        Post.status == "visible",
        Post.private.is_(False),
        *matches,
    )
    joined = select(Post.id).join(Thread, Post.thread_id == Thread.id).where(where)
    total = min(
        session.scalar(select(func.count()).select_from(joined.subquery())) or 0,
        MAX_RESULT_PAGES * per_page,
    )
    number = max(1, min(number, MAX_RESULT_PAGES))
    posts = session.scalars(
        select(Post)
        .join(Thread, Post.thread_id == Thread.id)
        .where(where)
        .options(
            joinedload(Post.author),
            joinedload(Post.thread).lazyload(Thread.author),
            joinedload(Post.thread).lazyload(Thread.issue),
        )
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(per_page)
        .offset((number - 1) * per_page)
    ).all()
    hits = [
        SearchHit(post, mark(post.thread.title, words), snippet(post.body_html, words))
        for post in posts
    ]
    return Page(hits, number, total, per_page)


def snippet(body_html: str, words: list[str]) -> Marked:
    """A short excerpt of a post's text around the first searched word, split into plain and
    matching pieces so the page can mark the matches (and escape everything). Taken from
    the rendered post, so readers see words, not markdown."""
    flat = " ".join(html.unescape(nh3.clean(body_html, tags=set())).split())
    lower = flat.lower()
    hits = [lower.find(word) for word in words if word in lower]
    start = max(0, min(hits, default=0) - SNIPPET_BEFORE)
    if start:
        start = flat.find(" ", start) + 1 or start
    end = min(len(flat), start + SNIPPET_LENGTH)
    excerpt = ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")
    return mark(excerpt, words)


def mark(excerpt: str, words: list[str]) -> Marked:
    pieces: Marked = []
    lower, at = excerpt.lower(), 0
    if len(lower) != len(excerpt):  # a letter whose lower case is longer: do not guess where
        return [(excerpt, False)]
    while at < len(excerpt):
        found = [(lower.find(word, at), word) for word in words if lower.find(word, at) >= 0]
        if not found:
            break
        position, word = min(found, key=lambda item: (item[0], -len(item[1])))
        if position > at:
            pieces.append((excerpt[at:position], False))
        pieces.append((excerpt[position : position + len(word)], True))
        at = position + len(word)
    if at < len(excerpt):
        pieces.append((excerpt[at:], False))
    return pieces
