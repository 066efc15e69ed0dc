"""redact addresses in old delivery errors and bounce diagnostics

Since 2026-11-24 Kith keeps the text of SMTP refusals and bounce reports without the
addresses they quote (app/redaction.py, reliability.md P5): a copy of an address in free
text would outlive the member's erasure. This takes them out of the rows written before.
Only rows whose text holds an "@" are read, a thousand at a time.

Revision ID: 9c1e4b7d2a60
Revises: 3304fef2f369
Create Date: 2026-11-25 04:00:00
"""
from alembic import op
import sqlalchemy as sa

from app.redaction import without_addresses


revision = '9c1e4b7d2a60'
down_revision = '3304fef2f369'
branch_labels = None
depends_on = None

FREE_TEXT = (("deliveries", "error"), ("bounces", "diagnostic"))
CHUNK = 1000


def upgrade():
    connection = op.get_bind()
    for name, column in FREE_TEXT:
        table = sa.table(name, sa.column("id", sa.Integer), sa.column(column, sa.Text))
        text = table.c[column]
        after = 0
        while rows := connection.execute(
            sa.select(table.c.id, text)
            .where(table.c.id > after, text.like("%@%"))
            .order_by(table.c.id)
            .limit(CHUNK)
        ).all():
            changed = [
                {"row_id": row_id, "text": without_addresses(value)}
                for row_id, value in rows
                if without_addresses(value) != value
            ]
            if changed:
                connection.execute(
                    sa.update(table)
                    .where(table.c.id == sa.bindparam("row_id"))
                    .values({column: sa.bindparam("text")}),
                    changed,
                )
            after = rows[-1][0]


def downgrade():
    pass  # the addresses are gone for good, as they should be
