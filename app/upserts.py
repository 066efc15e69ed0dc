"""Single-statement writes on either backend (INSERT … ON CONFLICT): safe when two processes
write the same row at once, and able to stand alone in an autocommitted ``db.reading``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Table, bindparam, func, select
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
    only_if: ColumnElement[bool] | None = None,
    wait_for_disk: bool = True,
) -> None:
    """INSERT … ON CONFLICT DO UPDATE on either backend: insert ``rows``; where ``keys``
    already exist, apply ``changes(excluded)`` instead, to the rows where ``only_if`` holds.

    One statement, so two processes writing the same row at once never lose an increment,
    and it stands alone in an autocommitted ``reading``. ``wait_for_disk=False`` (one row,
    for writes whose loss in a crash costs nothing) is ``without_flush_wait`` inside the
    statement itself, where a ``SET LOCAL`` before it would have no transaction to act on.
    """
    if not rows:
        return
    dialect_insert = _dialect_insert(session)
    if dialect_insert is postgresql_insert and not wait_for_disk:
        [row] = rows
        values = select(*(bindparam(None, value, table.c[key].type) for key, value in row.items()))
        no_flush_wait = func.set_config("synchronous_commit", "off", True) == "off"
        statement = dialect_insert(table).from_select(list(row), values.where(no_flush_wait))
    else:
        statement = dialect_insert(table).values(rows)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=keys, set_=changes(statement.excluded), where=only_if
        )
    )


def insert_if_missing(session: Session, table: Table, row: dict[str, Any], *, keys: list[str]):
    """INSERT … ON CONFLICT DO NOTHING on either backend: one statement, so two processes
    making the same row at once make one, and it stands alone in an autocommitted
    ``reading`` (where a savepoint around a plain INSERT has no transaction to live in)."""
    dialect_insert = _dialect_insert(session)
    session.execute(dialect_insert(table).values(row).on_conflict_do_nothing(index_elements=keys))


def _dialect_insert(session: Session):
    postgres = session.connection().dialect.name == "postgresql"
    return postgresql_insert if postgres else sqlite_insert
