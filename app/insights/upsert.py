"""INSERT … ON CONFLICT DO UPDATE on either backend: counts add up in one statement, so two
processes writing the same row at once never lose an increment."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


def upsert(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    keys: list[str],
    changes: Callable[[Any], dict[str, Any]],
) -> None:
    """Insert ``rows``; where ``keys`` already exist, apply ``changes(excluded)`` instead."""
    if not rows:
        return
    dialect = session.connection().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(table).values(rows)
    session.execute(
        statement.on_conflict_do_update(index_elements=keys, set_=changes(statement.excluded))
    )
