"""``kith insights refresh``: recompute the audience rollup and engagement scores now."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.db import transaction
from app.insights import growth, jobs


@click.group("insights")
def insights_group() -> None:
    """Editor insight: the audience rollup and engagement scores."""


@insights_group.command("refresh")
@click.option(
    "--days",
    type=click.IntRange(1, 3660),
    default=growth.ROLLUP_DAYS,
    show_default=True,
    help="How many days back to recompute the audience rollup.",
)
@with_appcontext
def refresh_command(days: int) -> None:
    """Recompute the daily audience rollup (backfilling DAYS days) and every member's score."""
    with transaction(immediate=True) as session:
        rows, scored = jobs.refresh(session, days=days)
    click.echo(f"insights: {rows} rollup rows over {days} days; {scored} members scored above 0")
