"""RQ entry points for payments: the periodic end of lapsed memberships."""

from __future__ import annotations

from app.db import transaction
from app.payments import service


def expire_lapsed() -> int:
    """Members whose past_due grace ran out with no word from Stripe go back to free or
    invited. Runs in every worker's maintenance (next to the send reconciler); idempotent."""
    with transaction(immediate=True) as session:
        return service.expire_lapsed(session)
