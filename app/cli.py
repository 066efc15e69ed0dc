"""Kith's command line: ``kith COMMAND`` (or ``flask --app wsgi COMMAND``).

Commands parse their arguments, call one service inside a transaction and print the outcome;
bad input ends in a one-line error and a non-zero exit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from werkzeug.serving import run_simple

from app import embedded_redis
from app.api.commands import api_token_group
from app.config import PROJECT_ROOT
from app.db import transaction
from app.discussions.commands import boards_group, seed_demo_forum
from app.discussions.digest_commands import digest_command
from app.inbound.commands import inbound_smtp_command
from app.insights.commands import insights_group
from app.issues import content
from app.members import service as members
from app.members.commands import members_group, segments_group
from app.members.invite_commands import invites_group
from app.migrations import upgrade_database
from app.queue import run_worker
from app.sending.commands import send_command, send_control_command, send_status_command
from app.sending.dkim_commands import dkim_group

DEMO_EDITOR = "editor@example.com"


def _settings():
    return current_app.extensions["kith.settings"]


@click.command("create-editor")
@click.argument("email")
@click.option("--name", default="", help="The editor's display name.")
@with_appcontext
def create_editor(email: str, name: str) -> None:
    """Make EMAIL an editor and print a one-time sign-in link."""
    click.echo(_editor_link(email, name))


def _editor_link(email: str, name: str = "") -> str:
    try:
        with transaction() as session:
            editor = members.create_editor(session, email, name=name)
            token = members.start_login(session, editor)
            return members.login_url(_settings(), token)
    except members.InvalidEmail as error:
        raise click.ClickException(f"{email!r} is not a usable email address: {error}") from error


@click.group("content")
def content_group() -> None:
    """Issues kept as markdown files."""


@content_group.command("sync")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def content_sync(directory: Path | None) -> None:
    """Load DIRECTORY/*.md (default: content/) into issues, idempotently by slug."""
    _sync(directory or _settings().content_dir)


def _sync(directory: Path) -> None:
    try:
        with transaction() as session:
            report = content.sync_directory(session, directory)
    except content.ContentFileError as error:
        raise click.ClickException(str(error)) from error
    for name, reason in report.errors:
        click.echo(f"  {name}: {reason}", err=True)
    click.echo(f"content sync: {report.summary()}")
    if report.errors:
        raise click.ClickException(f"{len(report.errors)} file(s) could not be synced (see above)")


@click.command("demo")
@with_appcontext
def demo() -> None:
    """Migrate the database and seed the demo publication from content/."""
    upgrade_database(current_app._get_current_object())
    _sync(_settings().content_dir)
    seed_demo_forum(DEMO_EDITOR)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@with_appcontext
def worker(burst: bool) -> None:
    """Run a worker for Kith's queues (the same as ``python worker.py``)."""
    run_worker(current_app._get_current_object(), burst=burst)


@click.command("up")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--editor", "editor_email", default=DEMO_EDITOR, show_default=True)
@with_appcontext
def up(host: str, port: int, editor_email: str) -> None:
    """Start Kith locally: migrate, seed the demo, run a worker and the web app."""
    app: Flask = current_app._get_current_object()
    settings = _settings()
    upgrade_database(app)
    try:
        _sync(settings.content_dir)
    except click.ClickException as error:
        click.echo(f"warning: {error.message}", err=True)
    link = _editor_link(editor_email)
    seed_demo_forum(editor_email)
    redis_url = settings.redis_url or embedded_redis.ensure_running(settings.instance_path)
    app.extensions["kith.redis_url"] = redis_url
    worker_process = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "worker.py")],
        env={**os.environ, "REDIS_URL": redis_url},
    )
    outbox = (
        "" if settings.smtp_url else f"\n  Mail goes to the outbox: {settings.url('/admin/outbox')}"
    )
    minutes = settings.login_link_max_age // 60
    click.echo(
        f"\nKith is running at http://{host}:{port}/\n"
        f"  Sign in as {editor_email} (one-time link, valid {minutes} minutes):\n"
        f"  {link}{outbox}\n  Stop with Ctrl-C.\n"
    )
    # SIGTERM ends like Ctrl-C, so the worker and the embedded Redis are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        worker_process.terminate()
        worker_process.wait(timeout=10)


def register_commands(app: Flask) -> None:
    commands = (create_editor, content_group, demo, worker, up, members_group, segments_group)
    commands += (invites_group, boards_group, api_token_group, digest_command, insights_group)
    sending = (send_command, send_status_command, send_control_command, dkim_group)
    for command in (*commands, *sending, inbound_smtp_command):
        app.cli.add_command(command)


def main() -> None:
    """The ``kith`` console script."""
    from app import create_app

    FlaskGroup(create_app=create_app, add_default_commands=True, load_dotenv=False)(
        prog_name="kith"
    )
