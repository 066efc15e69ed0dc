"""Members out as CSV, in the import's own columns, so an export imports back unchanged."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.members.csv_io import neutralize
from app.members.importer import CORE_COLUMNS
from app.members.models import Member


def export_rows(session: Session, condition) -> Iterator[list[str]]:
    """Header, then one row per member matching ``condition``: the import's own columns."""
    field_names: set[str] = set()
    for fields in session.scalars(select(Member.fields).where(condition)):
        field_names.update((fields or {}).keys())
    extra = sorted(field_names - set(CORE_COLUMNS))
    yield [neutralize(name) for name in (*CORE_COLUMNS, *extra)]  # a field may be named "=…"
    query = (
        select(Member)
        .where(condition)
        .options(selectinload(Member.tags))
        .order_by(Member.id)
        .execution_options(yield_per=1000)
    )
    for member in session.scalars(query):
        fields = member.fields or {}
        tags = ";".join(tag.name for tag in member.tags)
        values = [member.email, member.name, member.tier, member.status, tags]
        values += [str(fields.get(name, "")) for name in extra]
        yield [neutralize(value) for value in values]
