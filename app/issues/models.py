"""Issues: the long-form pieces a publication writes, and the publication itself."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, one_of, utcnow

VISIBILITIES = ("public", "members", "paid")
DISCUSSION_SETTINGS = ("members", "paid", "off")
MAILED_REPLIES = ("private", "public")
STATUSES = ("draft", "published")
SOURCES = ("editor", "file")


class Issue(Base):
    """One issue. ``body_html``/``teaser_html`` are rendered when saved, never per request."""

    __tablename__ = "issues"
    __table_args__ = (
        one_of("visibility", VISIBILITIES),
        one_of("status", STATUSES),
        one_of("source", SOURCES),
        Index("ix_issues_status_published_at", "status", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    subtitle: Mapped[str] = mapped_column(String(300), default="")
    excerpt: Mapped[str] = mapped_column(Text, default="")
    body_markdown: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    teaser_html: Mapped[str] = mapped_column(Text, default="")
    has_more_marker: Mapped[bool] = mapped_column(Boolean, default=False)
    word_count: Mapped[int] = mapped_column(Integer, default=0)
    reading_minutes: Mapped[int] = mapped_column(Integer, default=1)
    # Case-folded plain text for search, made with the HTML (service.search_texts): what any
    # reader may search (title, subtitle, excerpt, teaser), and the body, for readers with access.
    search_teaser: Mapped[str] = mapped_column(Text, default="", server_default="")
    search_body: Mapped[str] = mapped_column(Text, default="", server_default="")
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    email_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # Its discussion: who may post (members | paid | off), whether mailed replies are shown in
    # the thread (public) or kept as feedback for the editor (private), and how many one-click
    # feedback choices the email carries (0: none).
    discussion: Mapped[str] = mapped_column(String(16), default="members", server_default="members")
    mailed_replies: Mapped[str] = mapped_column(
        String(16), default="private", server_default="private"
    )
    feedback_choices: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(16), default="editor")
    source_path: Mapped[str | None] = mapped_column(String(500))
    source_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def is_published(self) -> bool:
        return self.status == "published"


class Publication(Base):
    """The single row describing the publication and the version of what readers see.

    ``content_version`` goes up on every change that alters a public page; web processes
    compare it to drop their page caches, so a change shows on every node within a second.
    """

    __tablename__ = "publication"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="Kith")
    description: Mapped[str] = mapped_column(Text, default="")
    content_version: Mapped[int] = mapped_column(Integer, default=0)
    # Words the editor sets: shown on paywalls, and to new paying or invited members.
    paywall_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    welcome_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Mailed replies must come from the member's own address unless the editor allows any.
    replies_from_any_address: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # Off unless the editor turns it on (app/insights): a pixel and tracked links in issue
    # emails, disclosed in the site's and the email's footer.
    count_opens_clicks: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
