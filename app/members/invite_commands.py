"""``kith invites create``: make an invitation from the command line and print its link."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from app.db import transaction
from app.members import invites
from app.members.models import TIERS


@click.group("invites")
def invites_group() -> None:
    """Invitations: links that grant a tier and tags."""


@invites_group.command("create")
@click.option("--tier", type=click.Choice(TIERS), default="invite", show_default=True)
@click.option("--uses", type=int, help="How many people may use it (default: any number).")
@click.option("--expires", help="ISO 8601 date or date and time (UTC unless a zone is given).")
@click.option("--tag", "tags", multiple=True, help="A tag it adds (repeatable).")
@click.option("--note", default="", help="A note for the editors.")
@with_appcontext
def create_invite(
    tier: str, uses: int | None, expires: str | None, tags: tuple[str, ...], note: str
) -> None:
    """Make an invitation and print its /join/<code> link."""
    try:
        with transaction() as session:
            invite = invites.create(
                session, tier=tier, max_uses=uses, expires_at=invites.parse_expiry(expires),
                tags=tags, note=note,
            )  # fmt: skip
            link = invites.join_url(current_app.extensions["kith.settings"], invite)
    except invites.InviteError as error:
        raise click.ClickException(str(error)) from error
    click.echo(link)
