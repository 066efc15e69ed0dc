"""API tokens: how a program acts for an editor through ``/api/v1``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UTCDateTime, one_of, utcnow
from app.members.models import Member

SCOPES = ("read", "write")


class ApiToken(Base):
    """One editor's token. Only the SHA-256 of the secret is kept: it is shown once, when made.

    ``prefix`` is the start of the secret (``kith_`` and a few characters), enough for a
    person to tell their tokens apart and for a secret scanner to recognise one, and far too
    little to guess the rest.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (one_of("scope", SCOPES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(8))
    editor_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    editor: Mapped[Member] = relationship(lazy="joined")

    @property
    def active(self) -> bool:
        return self.revoked_at is None
