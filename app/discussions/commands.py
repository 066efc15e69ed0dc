"""Forum commands: ``kith boards create`` and the demo's boards (run by ``kith demo`` and
``kith up``)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.db import transaction
from app.discussions import boards
from app.discussions.models import BOARD_ACCESS
from app.members import service as members


def seed_demo_forum(editor_email: str) -> None:
    """Add the demo boards and their welcome topics (by the editor ``editor_email``), once."""
    try:
        with transaction() as session:
            editor = members.create_editor(session, editor_email)
            added = boards.seed_demo(session, editor)
    except (members.InvalidEmail, boards.BoardError) as error:
        raise click.ClickException(f"forum demo: {error}") from error
    click.echo(f"forum demo: {', '.join(added) if added else 'already there'}")


@click.group("boards")
def boards_group() -> None:
    """Forum boards."""


@boards_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="The board's name, as the forum lists it.")
@click.option("--description", default="", help="One or two sentences about the board.")
@click.option("--access", type=click.Choice(BOARD_ACCESS), default="members", show_default=True)
@with_appcontext
def create_board(slug: str, name: str, description: str, access: str) -> None:
    """Make a board at /forum/SLUG."""
    try:
        with transaction() as session:
            board = boards.create_board(
                session, boards.BoardFields(slug, name, description, access)
            )
            slug = board.slug
    except boards.BoardError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"board created: /forum/{slug}")
