"""``kith inbound-smtp``: receive bounces, complaints and mailed replies over SMTP or LMTP."""

from __future__ import annotations

import signal
import threading

import click
from flask import current_app
from flask.cli import with_appcontext

from app.inbound.smtp_server import InboundController


@click.command("inbound-smtp")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=2525, show_default=True, type=click.IntRange(1, 65535))
@click.option("--lmtp", is_flag=True, help="Speak LMTP (for a local MTA) instead of SMTP.")
@with_appcontext
def inbound_smtp_command(host: str, port: int, lmtp: bool) -> None:
    """Receive bounces at bounce+… and replies at reply+…@REPLY_DOMAIN until stopped."""
    app = current_app._get_current_object()
    controller = InboundController(app, host=host, port=port, lmtp=lmtp)
    try:
        controller.start()
    except (OSError, RuntimeError) as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error}") from error
    protocol = "LMTP" if lmtp else "SMTP"
    domain = app.extensions["kith.settings"].reply_domain
    click.echo(
        f"Receiving bounce+…@{domain} and reply+…@{domain} over {protocol} on {host}:{port}. "
        "Stop with Ctrl-C."
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
