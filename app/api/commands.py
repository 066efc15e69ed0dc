"""``kith api-token create``: make an editor's API token and print it, the one time it is seen."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.api import tokens
from app.api.models import SCOPES
from app.db import transaction


@click.group("api-token")
def api_token_group() -> None:
    """API tokens for programs that use /api/v1."""


@api_token_group.command("create")
@click.option("--name", required=True, help="What the token is for, e.g. 'CRM sync'.")
@click.option("--scope", type=click.Choice(SCOPES), required=True, help="read, or write too.")
@click.option("--editor", "editor_email", help="Its owner (default: the only editor).")
@with_appcontext
def create_token(name: str, scope: str, editor_email: str | None) -> None:
    """Make a token and print it; only its hash is kept, so copy it now."""
    try:
        with transaction() as session:
            made = tokens.create(
                session, tokens.owner(session, editor_email), name=name, scope=scope
            )
            owner = made.token.editor.email
    except tokens.TokenError as error:
        raise click.ClickException(str(error)) from error
    click.echo(made.secret)
    click.echo(
        f"{scope} token “{made.token.name}” for {owner}: store it now, it is not shown again.",
        err=True,
    )
