"""``kith members …`` and ``kith segments …``: the audience from the command line."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from app.db import transaction
from app.members import audience, csv_io, exporter, importer, segments
from app.members.models import TIERS

TIER_CHOICE = click.Choice(TIERS)
PARALLEL_FROM_ROWS = 20_000  # below this, starting a validation process costs more than it saves


def _segment_error(error: segments.SegmentError) -> click.ClickException:
    return click.ClickException(f"segment: {error}")


@click.group("members")
def members_group() -> None:
    """Import, export and count members."""


@members_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--tier", type=TIER_CHOICE, help="Tier for rows that do not name one.")
@click.option(
    "--tag", "tags", multiple=True, help="Add this tag to every imported member (repeatable)."
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write rejected rows.",
)
@with_appcontext
def import_members(
    file: Path, tier: str | None, tags: tuple[str, ...], rejects: Path | None
) -> None:
    """Import FILE.csv (columns: email, name, tier, tags; others become custom fields)."""
    try:
        csv_file = csv_io.inspect_file(file)
        run = importer.Importer(source=f"import {file.name}"[:100], default_tier=tier, tags=tags)
    except (csv_io.ImportFileError, audience.AudienceError) as error:
        raise click.ClickException(str(error)) from error
    console = Console(stderr=True)
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(
        *columns, console=console, transient=True, disable=not console.is_terminal
    ) as bar:
        task = bar.add_task("import", total=max(0, csv_file.rows - 1))
        totals = importer.run_import(
            current_app._get_current_object(), csv_file, run,
            parallel=csv_file.rows > PARALLEL_FROM_ROWS,
            progress=lambda rows: bar.advance(task, rows),
        )  # fmt: skip
    summary = (
        f"created {totals.created}, updated {totals.updated}, unchanged {totals.unchanged}, "
        f"skipped {totals.skipped} (duplicate rows), invalid {totals.invalid}"
    )
    if totals.rejected:
        rejects = rejects or file.with_name(file.stem + ".rejected.csv")
        csv_io.write_rejects(rejects, csv_file.header, totals.rejected)
        summary += f"; rejected rows and reasons are in {rejects}"
    click.echo(summary)


@members_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--segment", "expression", default="all", help="Only members matching this expression."
)
@with_appcontext
def export_members(file: Path, expression: str) -> None:
    """Write members to FILE.csv (- for standard output) in the import's own columns."""
    try:
        condition = segments.where(expression)
    except segments.SegmentError as error:
        raise _segment_error(error) from error
    handle = sys.stdout if str(file) == "-" else file.open("w", encoding="utf-8", newline="")
    exported = 0
    try:
        writer = csv.writer(handle)
        with transaction() as session:
            rows = exporter.export_rows(session, condition)
            writer.writerow(next(rows))
            for row in rows:
                writer.writerow(row)
                exported += 1
    finally:
        if handle is not sys.stdout:
            handle.close()
    click.echo(f"exported {exported} members", err=True)


@click.group("segments")
def segments_group() -> None:
    """Count and save segment expressions."""


@segments_group.command("count")
@click.argument("expression")
@with_appcontext
def count_segment(expression: str) -> None:
    """How many members EXPRESSION matches, and how many a send would reach."""
    try:
        with transaction() as session:
            matched = segments.count(session, expression)
            reached = segments.count(session, expression, recipients=True)
    except segments.SegmentError as error:
        raise _segment_error(error) from error
    click.echo(f"{matched} members match; a send would reach {reached}")


@segments_group.command("save")
@click.argument("name")
@click.argument("expression")
@with_appcontext
def save_segment(name: str, expression: str) -> None:
    """Save EXPRESSION as the segment NAME (replacing one of that name)."""
    try:
        with transaction() as session:
            audience.save_segment(session, name, expression)
            reached = segments.count(session, expression, recipients=True)
    except segments.SegmentError as error:
        raise _segment_error(error) from error
    except audience.AudienceError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"saved segment {name!r}: {reached} recipients now")


@segments_group.command("list")
@with_appcontext
def list_segments() -> None:
    """Saved segments with their recipient counts."""
    with transaction() as session:
        for segment in audience.saved_segments(session):
            reached = segments.count(session, segment.expression, recipients=True)
            click.echo(f"{segment.name}\t{reached}\t{segment.expression}")
