"""Threads and posts, forum boards, reactions, read markers, reports, feedback votes and the
moderation audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime, one_of, utcnow
from app.issues.models import Issue
from app.members.models import Member

BOARD_ACCESS = ("public", "members", "paid")
THREAD_KINDS = ("issue", "topic")
POST_STATUSES = ("visible", "hidden", "deleted")
POST_SOURCES = ("web", "email")
REACTIONS = {"like": "👍", "heart": "❤️", "laugh": "😄", "thinking": "🤔", "celebrate": "🎉"}


class Board(Base):
    """A forum board; ``access`` says who reads it (members.access decides, by this value)."""

    __tablename__ = "boards"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    access: Mapped[str] = mapped_column(String(16), default="members")
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (one_of("access", BOARD_ACCESS),)


class Thread(Base):
    """An issue's discussion (one per issue) or a forum topic (on a board)."""

    __tablename__ = "threads"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # issue | topic
    issue_id: Mapped[int | None] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), unique=True
    )
    board_id: Mapped[int | None] = mapped_column(
        ForeignKey("boards.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300), default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    locked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Public (non-private, visible) posts only: what a thread list shows.
    post_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_post_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    issue: Mapped[Issue | None] = relationship(lazy="joined")
    board: Mapped[Board | None] = relationship(lazy="joined")
    author: Mapped[Member | None] = relationship(lazy="joined")

    __table_args__ = (
        Index("ix_threads_board_order", "board_id", "pinned", "last_post_at"),
        one_of("kind", THREAD_KINDS),
    )


class Post(Base):
    """One member's words in a thread. Deleting keeps a tombstone so replies keep their place."""

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"))
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")  # sanitized
    source: Mapped[str] = mapped_column(String(16), default="web")  # web | email
    private: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status: Mapped[str] = mapped_column(String(16), default="visible")
    is_answer: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A mailed reply's Message-ID: the same mail delivered twice posts once.
    message_id: Mapped[str | None] = mapped_column(String(500), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # feedback inbox

    author: Mapped[Member | None] = relationship(lazy="joined")
    thread: Mapped[Thread] = relationship(lazy="joined")
    parent: Mapped[Post | None] = relationship(remote_side=[id], lazy="select")

    __table_args__ = (
        Index("ix_posts_thread_created", "thread_id", "created_at"),
        Index("ix_posts_created", "created_at"),
        one_of("status", POST_STATUSES),
        one_of("source", POST_SOURCES),
    )


class Reaction(Base):
    __tablename__ = "reactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # a key of REACTIONS
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("post_id", "member_id", "kind"),)


class ReadMarker(Base):
    """How far a member has read a thread: posts after ``read_at`` are unread."""

    __tablename__ = "read_markers"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    thread_id: Mapped[int] = mapped_column(
        ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True
    )
    read_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PostReport(Base):
    """A member flagging a post for the moderators; one open report per member and post."""

    __tablename__ = "post_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution: Mapped[str] = mapped_column(String(16), default="")  # hidden|deleted|dismissed

    __table_args__ = (UniqueConstraint("post_id", "reporter_id"),)


class ModerationAction(Base):
    """The audit log: who did what to which post, thread or member, and why."""

    __tablename__ = "moderation_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    moderator_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(32))  # hide, unhide, delete, lock, suspend…
    target_type: Mapped[str] = mapped_column(String(16))  # post | thread | member
    target_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class FeedbackVote(Base):
    """A member's one-click rating of an issue (1..choices); a second click changes it."""

    __tablename__ = "feedback_votes"

    id: Mapped[int] = mapped_column(primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    choice: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("issue_id", "member_id"),)


class Notification(Base):
    """An email telling a member about a new post (a reply to theirs, or an editor's answer).

    One row per (post, member), written with the post: the job that mails it marks
    ``sent_at``, so a retried job never mails twice and a lost job is found again.
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # reply | answer
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("post_id", "member_id"),
        Index("ix_notifications_unsent", "sent_at", "created_at"),
    )
