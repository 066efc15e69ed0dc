"""Outgoing webhooks: events recorded with the change they report, delivered signed by RQ jobs.

Domains call ``webhooks.emit(session, type, payload)`` (payload from ``webhooks.payloads``)
in the transaction that makes the change; see docs/webhooks.md for what receivers get.
"""

from app.webhooks.members import (
    member_changed,
    member_created,
    member_deleted,
    members_changed,
    members_created,
)
from app.webhooks.outbox import emit, emit_many

__all__ = [
    "emit",
    "emit_many",
    "member_changed",
    "member_created",
    "member_deleted",
    "members_changed",
    "members_created",
]
