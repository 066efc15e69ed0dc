"""Deliveries as a real send leaves them, for tests of what comes back (bounces, complaints)."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.issues import service as issues
from app.issues.models import Issue
from app.sending.models import Delivery
from app.sending.service import start_send


def make_issue(session: Session) -> Issue:
    issue = issues.save_issue(
        session,
        {
            "title": f"Hydration notes {secrets.token_hex(3)}",
            "excerpt": "Water matters.",
            "body_markdown": "## Water\n\nUse 75 %.",
        },
    )
    session.commit()
    return issue


def sent_deliveries(session: Session, expression: str = "all") -> dict[int, Delivery]:
    """Send a new issue to ``expression`` and mark every delivery sent as the send loop would,
    with a Message-ID of its shape: member id → delivery."""
    issue = make_issue(session)
    send = start_send(session, issue, expression)
    session.flush()
    deliveries = session.scalars(select(Delivery).where(Delivery.send_id == send.id)).all()
    for delivery in deliveries:
        delivery.status = "sent"
        delivery.sent_at = utcnow()
        delivery.message_id = message_id_for(issue.id, delivery.id)
    session.commit()
    return {delivery.member_id: delivery for delivery in deliveries}


def message_id_for(issue_id: int, delivery_id: int) -> str:
    return f"<i{issue_id}.d{delivery_id}.{secrets.token_hex(6)}@localhost>"
