"""Materializing a send's recipients: a first chunk at once, the rest in the background.

One ``INSERT … SELECT`` for every recipient costs about 45 µs a row on PostgreSQL (indexes and
foreign keys), nearly a second for 20,000 members, before the first email could leave. So the
send command writes the first FIRST_CHUNK recipients (in member-id order) and returns; a job
writes the rest in chunks, each committed, up to the highest member id that existed when the
send started (people who sign up later are not in it). ``audience_through`` is the cursor: a
lost job is found again by the reconciler and continues where the last chunk ended.
"""

from __future__ import annotations

from sqlalchemy import exists, func, insert, literal, select, text
from sqlalchemy.orm import Session

from app.members import segments
from app.members.models import Member
from app.sending.models import Delivery, Send

FIRST_CHUNK = 1_000
CHUNK = 20_000


def begin(session: Session, send: Send, expected: int) -> None:
    """Fix the audience's upper bound and write its first chunk (``send`` is flushed).

    ``recipients`` shows ``expected`` (counted just before) until the audience is complete,
    then the number of rows actually written.
    """
    send.audience_until = session.scalar(select(func.max(Member.id))) or 0
    send.audience_through = 0
    send.recipients = expected
    add_chunk(session, send, FIRST_CHUNK)


def add_chunk(session: Session, send: Send, size: int = CHUNK) -> bool:
    """Write the next ``size`` recipients after the cursor; True when the audience is complete.

    Members who already have a delivery of this issue are left out: nobody gets an issue
    twice, even from two sends.
    """
    if is_complete(send):
        return True
    already = exists(
        select(Delivery.id).where(
            Delivery.issue_id == send.issue_id, Delivery.member_id == Member.id
        )
    )
    window = select(Member.id).where(
        Member.id > send.audience_through,
        Member.id <= send.audience_until,
        segments.recipients_condition(send.expression),
        ~already,
    )
    chunk = window.order_by(Member.id).limit(size).subquery()
    rows = select(
        literal(send.id), literal(send.issue_id), chunk.c.id, literal("queued"), literal(0),
        literal(""),
    )  # fmt: skip
    columns = ["send_id", "issue_id", "member_id", "status", "attempts", "error"]
    inserted = (
        session.execute(insert(Delivery).from_select(columns, rows).returning(Delivery.member_id))
        .scalars()
        .all()
    )  # (psycopg reports no rowcount for INSERT … SELECT with parameters)
    if len(inserted) < size:
        send.audience_through = send.audience_until
        send.recipients = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.send_id == send.id)
        )
    else:
        send.audience_through = max(inserted)
    return is_complete(send)


def is_complete(send: Send) -> bool:
    return send.audience_until is None or send.audience_through >= send.audience_until


def refresh_statistics(session: Session) -> None:
    """Fresh planner statistics on PostgreSQL, so the per-message statements use primary keys
    even for members imported a minute ago (before autovacuum analyzed them)."""
    if session.connection().dialect.name == "postgresql":
        session.execute(text("ANALYZE members, deliveries"))
