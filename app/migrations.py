"""Alembic through Flask-Migrate, on Kith's own engine and metadata (no Flask-SQLAlchemy)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from flask_migrate import Migrate, upgrade
from sqlalchemy import MetaData

from app.db import Base


@dataclass(frozen=True)
class _Models:
    """What Flask-Migrate expects of its ``db`` argument: the metadata to compare against."""

    metadata: MetaData


def all_models() -> MetaData:
    """Import every domain's models so the metadata is complete, and return it."""
    from app.api import models as _api  # noqa: F401
    from app.discussions import models as _discussions  # noqa: F401
    from app.insights import models as _insights  # noqa: F401
    from app.issues import models as _issues  # noqa: F401
    from app.members import models as _members  # noqa: F401
    from app.payments import models as _payments  # noqa: F401
    from app.sending import models as _sending  # noqa: F401
    from app.webhooks import models as _webhooks  # noqa: F401

    return Base.metadata


def init_migrations(app: Flask, directory: Path) -> None:
    Migrate(
        app,
        _Models(all_models()),
        directory=str(directory),
        compare_type=True,
        render_as_batch=True,
    )


def upgrade_database(app: Flask) -> None:
    """Apply every migration (the same as ``kith db upgrade``)."""
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
