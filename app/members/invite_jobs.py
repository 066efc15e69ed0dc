"""RQ entry point for invitations: the confirmation email whose link also redeems."""

from __future__ import annotations

from flask import current_app

from app.db import transaction
from app.issues import service as issues
from app.members import invites
from app.members.models import Invite, Member
from app.queue import job
from app.sending import mailer


@job
def send_join_confirmation(member_id: int, invite_id: int) -> bool:
    """Ask an invited person to confirm their address; nothing once they have.

    The usual confirmation email, with a link through ``/join/<code>/confirm/…`` so that
    confirming also redeems the invitation.
    """
    settings = current_app.extensions["kith.settings"]
    with transaction() as session:
        member = session.get(Member, member_id)
        invite = session.get(Invite, invite_id)
        if member is None or invite is None or member.status not in ("pending", "unsubscribed"):
            return False
        link, email = invites.confirm_url(settings, member, invite), member.email
        publication = issues.publication(session).name or settings.publication_name
    mailer.send_transactional(
        email, f"Confirm your subscription to {publication}", "confirm",
        publication=publication, link=link,
    )  # fmt: skip
    return True
