"""``kith send``, ``kith send-status`` and ``kith send-control``: sending from the command line."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import redis
from flask.cli import with_appcontext
from sqlalchemy import select

from app.db import transaction
from app.issues.models import Issue
from app.members import segments
from app.queue import available
from app.sending import control, service
from app.sending.jobs import enqueue_send
from app.sending.models import Send


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
    with transaction(immediate=True) as session:
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
    """Sent, pending, failed, bounced, skipped and uncertain counts, rate and time left for
    each send of SLUG."""
    with transaction() as session:
        rows = control.snapshots(session, _issue(session, slug))
    if not rows:
        click.echo("not sent yet")
    for progress in rows:
        click.echo(_status_lines(progress))


def _status_lines(progress: control.SendProgress) -> str:
    shown = progress.display()
    lines = [
        f"send #{progress.send_id} [{progress.status}] {progress.total} recipients: "
        f"sent {progress.sent}, pending {progress.pending}, failed {progress.failed}, "
        f"bounced {progress.bounced}, skipped {progress.skipped}, "
        f"uncertain {progress.uncertain} (segment: {progress.expression})",
        f"  {shown['percent']} done; rate: {shown['rate']}; time left: {shown['time_left']}",
    ]
    for name, label in (
        ("scheduled_at", "scheduled for"),
        ("started_at", "started"),
        ("finished_at", "finished"),
        ("paused_reason", "paused"),
        ("resume_at", "tries the mail server again at"),
    ):
        if shown[name]:
            lines.append(f"  {label}: {shown[name]}")
    return "\n".join(lines)


DONE = {
    "pause": "paused after the batch in flight",
    "resume": "resumed",
    "cancel": "cancelled: members not sent it yet will not get it",
}
CONTROLS = {
    "pause": lambda session, send_id: control.pause(session, send_id, "the command line"),
    "resume": control.resume,
    "cancel": control.cancel,
}


@click.command("send-control")
@click.argument("send_id", type=int)
@click.argument("action", type=click.Choice(sorted(CONTROLS)))
@with_appcontext
def send_control_command(send_id: int, action: str) -> None:
    """Pause, resume or cancel send SEND_ID (the number send-status shows)."""
    if action == "resume" and not available():
        raise click.ClickException("the job queue is unavailable; nothing changed")
    with transaction(immediate=True) as session:
        send = session.get(Send, send_id)
        if send is None:
            raise click.ClickException(f"no send #{send_id}")
        changed = CONTROLS[action](session, send_id)
        if not changed:
            session.refresh(send)
    if not changed:
        if not control.already_done(send, action):
            raise click.ClickException(control.unchanged_reason(send, action))
        click.echo(control.unchanged_reason(send, action))
        return
    click.echo(f"send #{send_id} {DONE[action]}")
    if action == "resume":
        try:
            enqueue_send(send_id)
        except (redis.RedisError, OSError) as error:
            click.echo(f"the job queue did not answer ({error}); a worker resumes it shortly")
