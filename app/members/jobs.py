"""RQ entry points of the members domain."""

from __future__ import annotations

from flask import current_app

from app.db import transaction
from app.issues import service as issues
from app.members import service
from app.members.models import LoginToken, Member
from app.sending import mailer


def send_login_email(nonce: str) -> bool:
    """Email the sign-in link for token ``nonce``; a used or vanished token sends nothing."""
    settings = current_app.extensions["kith.settings"]
    with transaction() as session:
        token = session.get(LoginToken, nonce)
        if token is None or token.used_at is not None:
            return False
        member = session.get(Member, token.member_id)
        if member is None or not member.is_active:
            return False
        link = service.login_url(settings, token)
        email, name = member.email, member.name
        publication = issues.publication(session).name or settings.publication_name
    mailer.send_transactional(
        email,
        f"Your sign-in link for {publication}",
        "login",
        publication=publication,
        name=name,
        link=link,
        minutes=settings.login_link_max_age // 60,
    )
    return True
