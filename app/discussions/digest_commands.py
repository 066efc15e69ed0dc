"""``kith digest``: mail the daily digests that are due now, or say who would get one."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from app.db import transaction, utcnow
from app.discussions import digest, jobs, mailing
from app.sending.transport import DeliveryError


@click.command("digest")
@click.option("--dry-run", is_flag=True, help="Say who would get a digest; claim and send nothing.")
@with_appcontext
def digest_command(dry_run: bool) -> None:
    """Mail each member who asked for it a digest of the new posts (at most once a day)."""
    if dry_run:
        _dry_run()
        return
    with transaction() as session:
        waiting = digest.count_due(session, utcnow())
    total, more = mailing.Tally(), waiting > 0
    console = Console(stderr=True)
    columns = (TextColumn("digests"), BarColumn(), MofNCompleteColumn())
    with Progress(
        *columns, console=console, transient=True, disable=not console.is_terminal
    ) as bar:
        task = bar.add_task("digests", total=waiting)
        while more:
            try:
                tally, more = jobs.run_digests()
            except DeliveryError as error:
                raise click.ClickException(f"cannot reach the mail server: {error}") from error
            for name in vars(total):
                setattr(total, name, getattr(total, name) + getattr(tally, name))
            bar.advance(task, tally.sent + tally.nothing + tally.refused + tally.uncertain)
    click.echo(
        f"digest: {total.sent} sent, {total.nothing} with nothing new"
        + (f", {total.deferred} deferred (mail server busy)" if total.deferred else "")
        + (f", {total.refused} refused by the mail server" if total.refused else "")
    )
    if total.deferred:
        raise click.ClickException("some digests could not be sent now; the worker retries them")


def _dry_run() -> None:
    with transaction() as session:
        previews = digest.preview(session, utcnow())
        lines = [
            f"  {member.email}: {sum(n.count for n in news)} new posts in {len(news)} threads"
            for member, news in previews
            if news
        ]
    for line in lines:
        click.echo(line)
    quiet = len(previews) - len(lines)
    click.echo(f"digest (dry run): {len(lines)} would get a digest, {quiet} have nothing new")
