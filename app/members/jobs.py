"""RQ entry points of the members domain: the transactional mail that accounts need.

Each job takes ids, re-reads its rows and sends nothing if the reason to send has passed
(a link already used, an address already confirmed), so a job run twice is harmless.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import transaction
from app.issues import service as issues
from app.members import accounts, service, subscriptions
from app.members.models import LoginToken, Member
from app.queue import job
from app.sending import mailer


def _publication(session: Session, settings: Settings) -> str:
    return issues.publication(session).name or settings.publication_name


@job
def send_login_email(nonce: str) -> bool:
    """Email the sign-in link for token ``nonce``; a used or vanished token sends nothing."""
    settings = current_app.extensions["kith.settings"]
    with transaction() as session:
        token = session.get(LoginToken, nonce)
        member = session.get(Member, token.member_id) if token and token.used_at is None else None
        if member is None or not member.is_active:
            return False
        link, email, name = service.login_url(settings, token), member.email, member.name
        publication = _publication(session, settings)
    mailer.send_transactional(
        email, f"Your sign-in link for {publication}", "login",
        publication=publication, name=name, link=link, minutes=settings.login_link_max_age // 60,
    )  # fmt: skip
    return True


@job
def send_confirmation_email(member_id: int) -> bool:
    """Ask a new (or returning) subscriber to confirm; nothing once they have."""
    settings = current_app.extensions["kith.settings"]
    with transaction() as session:
        member = session.get(Member, member_id)
        if member is None or member.status not in ("pending", "unsubscribed"):
            return False
        link, email = subscriptions.confirm_url(settings, member), member.email
        publication = _publication(session, settings)
    mailer.send_transactional(
        email,
        f"Confirm your subscription to {publication}",
        "confirm",
        publication=publication,
        link=link,
    )
    return True


@job
def send_email_change(member_id: int) -> bool:
    """Mail the confirmation link to the member's pending new address."""
    settings = current_app.extensions["kith.settings"]
    with transaction() as session:
        member = session.get(Member, member_id)
        if member is None or not member.pending_email:
            return False
        link, new_email, old_email = (
            accounts.email_change_url(settings, member),
            member.pending_email,
            member.email,
        )
        publication = _publication(session, settings)
    mailer.send_transactional(
        new_email, f"Confirm your new address for {publication}", "email_change",
        publication=publication, link=link, old_email=old_email,
    )  # fmt: skip
    return True
