"""Members: everyone Kith knows by email address, editors included."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, one_of, utcnow

ROLES = ("member", "editor")
TIERS = ("free", "paid", "invite")
STATUSES = ("pending", "active", "unsubscribed", "bounced", "complained")


class Member(Base):
    """A person with an email address. ``email`` is stored normalized and lower-cased."""

    __tablename__ = "members"
    __table_args__ = (
        one_of("role", ROLES),
        one_of("tier", TIERS),
        one_of("status", STATUSES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16), default="member")
    tier: Mapped[str] = mapped_column(String(16), default="free")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # flask-login's user protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def is_editor(self) -> bool:
        return self.role == "editor"

    def get_id(self) -> str:
        return str(self.id)


class LoginToken(Base):
    """One magic sign-in link. The link carries ``nonce`` signed; this row makes it single-use."""

    __tablename__ = "login_tokens"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
