"""``kith send`` and ``kith send-status``: sending an issue from the command line."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from app.db import transaction
from app.issues.models import Issue
from app.members import segments
from app.sending import service
from app.sending.jobs import enqueue_send


def _issue(session, slug: str) -> Issue:
    issue = session.scalar(select(Issue).where(Issue.slug == slug))
    if issue is None:
        raise click.ClickException(f"no issue with the slug {slug!r}")
    return issue


def _moment(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.ClickException(
            f"--at must be an ISO 8601 time such as 2026-12-01T08:00Z, not {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command("send")
@click.argument("slug")
@click.option(
    "--segment", "expression", required=True, help="Who gets it, e.g. 'tier:paid OR tag:vip'."
)
@click.option("--at", "at_text", help="Send later, at this ISO 8601 time.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def send_command(slug: str, expression: str, at_text: str | None, yes: bool) -> None:
    """Send (or schedule) the issue SLUG to the members EXPRESSION matches."""
    at = _moment(at_text)
    try:
        with transaction() as session:
            issue = _issue(session, slug)
            count = service.count_recipients(session, issue, expression)
    except segments.SegmentError as error:
        raise click.ClickException(f"segment: {error}") from error
    when = f"at {at.isoformat()}" if at else "now"
    click.echo(f"“{issue.title}” to {count} recipients {when} (segment: {expression})")
    if not yes and not click.confirm("Send it?", default=False):
        raise click.ClickException("not sent")
    with transaction() as session:
        send = service.start_send(session, _issue(session, slug), expression, at=at)
        send_id, recipients = send.id, send.recipients
    enqueue_send(send_id, at=at)
    click.echo(
        f"send #{send_id} queued for {recipients} recipients; "
        f"follow it with: kith send-status {slug}"
    )


@click.command("send-status")
@click.argument("slug")
@with_appcontext
def send_status_command(slug: str) -> None:
    """Delivered, pending, failed and bounced counts for each send of SLUG."""
    with transaction() as session:
        rows = service.progress(session, _issue(session, slug))
    if not rows:
        click.echo("not sent yet")
    for item in rows:
        counts = item.counts
        click.echo(
            f"send #{item.send.id} [{item.send.status}] {item.send.recipients} recipients: "
            f"sent {counts['sent']}, pending {item.pending}, failed {counts['failed']}, "
            f"bounced {counts['bounced']}, skipped {counts['skipped']}, "
            f"uncertain {counts['uncertain']}"
            f" (segment: {item.send.expression})"
        )
