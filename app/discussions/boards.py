"""The editor's side of the forum: making, changing, ordering and deleting boards, and the
demo publication's boards.

A board's slug is its address (``/forum/<slug>``), so it is checked here, once, for every
caller: the admin, the CLI and the demo seed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.discussions import forums
from app.discussions.models import BOARD_ACCESS, Board, Thread
from app.members.models import Member

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_SLUG, MAX_NAME, MAX_DESCRIPTION = 80, 200, 2000
# Paths under /forum that are pages of their own, not boards.
RESERVED_SLUGS = frozenset({"search", "mark-read", "new"})


class BoardError(ValueError):
    """A board change that cannot be made. ``field`` names the form field at fault, if one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class BoardNotFound(BoardError):
    def __init__(self) -> None:
        super().__init__("There is no such board.")


@dataclass(frozen=True)
class BoardFields:
    slug: str
    name: str
    description: str = ""
    access: str = "members"


@dataclass(frozen=True)
class BoardRow:
    board: Board
    topics: int
    posts: int


def _counts(session: Session, *where) -> dict[int, tuple[int, int]]:
    rows = session.execute(
        select(Thread.board_id, func.count(Thread.id), func.sum(Thread.post_count))
        .where(Thread.board_id.is_not(None), *where)
        .group_by(Thread.board_id)
    )
    return {board_id: (topics, posts or 0) for board_id, topics, posts in rows}


def list_boards(session: Session) -> list[BoardRow]:
    """Every board in order, with how many topics and posts deleting it would take along."""
    counts = _counts(session)
    return [BoardRow(board, *counts.get(board.id, (0, 0))) for board in forums.all_boards(session)]


def get_board(session: Session, board_id: int) -> Board:
    board = session.get(Board, board_id)
    if board is None:
        raise BoardNotFound()
    return board


def board_row(session: Session, board_id: int) -> BoardRow:
    board = get_board(session, board_id)
    return BoardRow(board, *_counts(session, Thread.board_id == board.id).get(board.id, (0, 0)))


def _checked(session: Session, fields: BoardFields, board: Board | None = None) -> BoardFields:
    slug = (fields.slug or "").strip().lower()
    name = " ".join((fields.name or "").split())
    if not slug:
        raise BoardError("A board needs a slug: it is the board's address.", "slug")
    if len(slug) > MAX_SLUG or not SLUG.fullmatch(slug):
        raise BoardError(
            f"Use lower-case letters, digits and single hyphens (at most {MAX_SLUG}), "
            "like general-chat.",
            "slug",
        )
    if slug in RESERVED_SLUGS:
        raise BoardError(f"/forum/{slug} is a page of its own: choose another slug.", "slug")
    taken = session.scalar(select(Board.id).where(Board.slug == slug))
    if taken is not None and (board is None or taken != board.id):
        raise BoardError(f"Another board already has the slug {slug!r}.", "slug")
    if not name:
        raise BoardError("A board needs a name.", "name")
    if len(name) > MAX_NAME:
        raise BoardError(f"That name is too long: at most {MAX_NAME} characters.", "name")
    description = (fields.description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise BoardError(f"At most {MAX_DESCRIPTION} characters.", "description")
    if fields.access not in BOARD_ACCESS:
        raise BoardError("Choose who can read it: public, members or paid.", "access")
    return BoardFields(slug, name, description, fields.access)


def _flush_unique(session: Session) -> None:
    """Flush, turning a slug taken by a concurrent request into the same clear error."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:
        raise BoardError("Another board already has that slug.", "slug") from error


def create_board(session: Session, fields: BoardFields) -> Board:
    """A new board, placed after the others."""
    fields = _checked(session, fields)
    last = session.scalar(select(func.max(Board.position)))
    board = Board(
        slug=fields.slug, name=fields.name, description=fields.description,
        access=fields.access, position=(last if last is not None else -1) + 1,
    )  # fmt: skip
    session.add(board)
    _flush_unique(session)
    return board


def update_board(session: Session, board_id: int, fields: BoardFields) -> Board:
    board = get_board(session, board_id)
    fields = _checked(session, fields, board)
    board.slug, board.name = fields.slug, fields.name
    board.description, board.access = fields.description, fields.access
    _flush_unique(session)
    return board


def move_board(session: Session, board_id: int, direction: str) -> Board:
    """Swap a board with its neighbour ``up`` or ``down``; at either end nothing changes.

    Positions are renumbered 0..n-1 first, so boards with equal positions move too.
    """
    if direction not in ("up", "down"):
        raise BoardError("Move a board up or down.")
    board = get_board(session, board_id)
    ordered = forums.all_boards(session)
    index = ordered.index(board)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(ordered):
        ordered[index], ordered[other] = ordered[other], ordered[index]
    for position, each in enumerate(ordered):
        each.position = position
    session.flush()
    return board


def delete_board(session: Session, board_id: int, *, confirmed_topics: int | None) -> str:
    """Delete a board; its topics and their posts go with it (the database cascades).

    A board with topics is deleted only when ``confirmed_topics`` is the number the editor
    was shown: if topics arrived since, they are asked again. Returns the board's name.
    """
    board = get_board(session, board_id)
    topics = session.scalar(select(func.count(Thread.id)).where(Thread.board_id == board.id))
    if topics and confirmed_topics != topics:
        raise BoardError(
            f"{board.name} has {topics} topic(s): confirm that they are deleted with it.",
            "confirm_topics",
        )
    name = board.name
    session.delete(board)
    session.flush()
    session.expire_all()  # topics and posts loaded before are gone from the database
    return name


# --- the demo publication --------------------------------------------------------------------

DEMO_BOARDS = (
    (
        BoardFields("general", "General", "Say hello, ask anything, talk about the issues.",
                    "members"),
        "Welcome to the forum",
        "Welcome! This board is for every member. Introduce yourself: what brought you here, "
        "and what would you like to read about next?",
    ),
    (
        BoardFields("paid-members", "Paid members", "Behind-the-scenes notes and questions for "
                    "paying and invited members.", "paid"),
        "Welcome, paid members",
        "Thank you for supporting the publication. Ask the editor anything here; this board "
        "is only for paying and invited members.",
    ),
)  # fmt: skip


def seed_demo(session: Session, author: Member) -> list[str]:
    """The demo's two boards, each with a welcome topic by ``author``; idempotent by slug and
    title, so running it again adds nothing. Returns what was added."""
    added = []
    for fields, title, body in DEMO_BOARDS:
        board = forums.board_by_slug(session, fields.slug)
        if board is None:
            board = create_board(session, fields)
            added.append(f"board {fields.slug}")
        welcome = select(Thread.id).where(Thread.board_id == board.id, Thread.title == title)
        if session.scalar(welcome) is None:
            forums.create_topic(session, author, board, title, body)
            added.append(f"topic {title!r}")
    return added
