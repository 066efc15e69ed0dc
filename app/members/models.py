"""Members: everyone Kith knows by email address, editors included."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime, one_of, utcnow

ROLES = ("member", "editor")
TIERS = ("free", "paid", "invite")
STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")
SUPPRESSED = ("unsubscribed", "bounced", "complained")
SOURCES = ("form", "import", "admin", "editor", "invite", "referral")

member_tags = Table(
    "member_tags",
    Base.metadata,
    Column("member_id", ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_member_tags_tag_id_member_id", "tag_id", "member_id"),
)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Member(Base):
    """A person with an email address. ``email`` is stored normalized and lower-cased."""

    __tablename__ = "members"
    __table_args__ = (
        one_of("role", ROLES),
        one_of("tier", TIERS),
        one_of("status", STATUSES),
        one_of("source", SOURCES),
        Index("ix_members_status_tier", "status", "tier"),
        Index("ix_members_created_at", "created_at"),
        # SQLite would otherwise reuse a deleted member's id, and old links carry ids.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16), default="member")
    tier: Mapped[str] = mapped_column(String(16), default="free")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # Server defaults let the migration add these to existing rows.
    source: Mapped[str] = mapped_column(String(16), default="form", server_default="form")
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    email_issues: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    email_replies: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    email_digest: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    pending_email: Mapped[str | None] = mapped_column(String(320))  # awaiting confirmation
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Soft bounces in a row (a quiet 30 days starts the count again); 3 suppress.
    soft_bounces: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Paid membership: the member's Stripe customer, reused for every checkout.
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # How many friends this member may still invite (an editor grants them).
    invites_left: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Moderation: a suspended member reads but may not post until this time (None: may post).
    posting_suspended_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Loaded only where shown (admin lists, exports, the API, webhook payloads: each asks with
    # ``selectinload``): every signed-in request loads its member, and few pages want the tags.
    tags: Mapped[list[Tag]] = relationship(secondary=member_tags, order_by=Tag.name)

    # flask-login's user protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        """May sign in: anyone who confirmed their address, whether or not they take our mail."""
        return self.status != "pending"

    @property
    def receives_mail(self) -> bool:
        return self.status == "active"

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def is_editor(self) -> bool:
        return self.role == "editor"

    def get_id(self) -> str:
        """Carries the session version: bumping it signs out every session of this member."""
        return f"{self.id}:{self.session_version}"


class LoginToken(Base):
    """One magic sign-in link. The link carries ``nonce`` signed; this row makes it single-use."""

    __tablename__ = "login_tokens"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_path: Mapped[str | None] = mapped_column(String(500))  # where to go after signing in


CONSENT_ACTIONS = (
    "subscribe", "confirm", "unsubscribe", "resubscribe", "import", "added",
    "email_change", "deleted",
)  # fmt: skip


class ConsentEvent(Base):
    """What a member agreed to or withdrew, when, how and from where.

    Kept when the member is erased: ``member_id`` goes NULL and ``email_hash`` (SHA-256 of the
    normalized address) is what proves the history belonged to that address.
    """

    __tablename__ = "consent_events"
    __table_args__ = (one_of("action", CONSENT_ACTIONS),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    # Not indexed: read only for rare questions about an erased address, while an index
    # costs every import and sign-up (7 % of a 100,000-row import).
    email_hash: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(100), default="")
    ip: Mapped[str | None] = mapped_column(String(45))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The issue whose email's unsubscribe link (or mailto) was used: the issue report counts it.
    issue_id: Mapped[int | None] = mapped_column(
        ForeignKey("issues.id", ondelete="SET NULL"), index=True
    )


class Segment(Base):
    """A saved, named segment expression (see ``segments.py`` for the syntax)."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    expression: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Invite(Base):
    """An invitation code: who may join or redeem it, how often, until when, granting what.

    ``code`` is long and random (``secrets.token_urlsafe``); ``uses`` counts redemptions,
    each recorded in ``InviteRedemption``. ``created_by_id`` is an editor or, for member
    invitations, the inviting member.
    """

    __tablename__ = "invites"
    __table_args__ = (one_of("tier", TIERS),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    tier: Mapped[str] = mapped_column(String(16), default="invite")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_uses: Mapped[int | None] = mapped_column(Integer)  # None: unlimited
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InviteRedemption(Base):
    """One use of an invitation, by one member (once per member and invite)."""

    __tablename__ = "invite_redemptions"
    __table_args__ = (UniqueConstraint("invite_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invite_id: Mapped[int] = mapped_column(ForeignKey("invites.id", ondelete="CASCADE"))
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    ip: Mapped[str | None] = mapped_column(String(45))
    redeemed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
