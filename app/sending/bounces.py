"""Bounces and complaints: the one place that records them and decides who stops getting mail.

Every source ends here: a DSN or ARF report through ``kith inbound-smtp`` or
``/inbound/email``, and a 5xx the send loop got while talking to the server. Suppression
only ever moves a member to a stronger state (see ``REPLACEABLE``) and is written with
conditional UPDATEs, so two reports arriving at once cannot lose a count or undo each other.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from sqlalchemy import case, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import webhooks
from app.db import utcnow
from app.members.models import Member
from app.redaction import without_addresses
from app.sending.models import BOUNCE_KINDS, Bounce, Delivery

# Soft bounces (full mailbox, greylisting given up on, a policy block) before a member is
# suppressed as bounced. Each delivery counts once, however many reports it draws, and a
# member with no bounce for SOFT_BOUNCE_WINDOW starts again from one (as Mailman and
# Discourse forgive old scores): a full mailbox once a season must not end a subscription.
SOFT_BOUNCE_LIMIT = 3
SOFT_BOUNCE_WINDOW = timedelta(days=30)

# kind → (the status it suppresses to, how many of that kind it takes; None = at once)
SUPPRESSION: dict[str, tuple[str, int | None]] = {
    "hard": ("bounced", None),
    "complaint": ("complained", None),
    "soft": ("bounced", SOFT_BOUNCE_LIMIT),
}
# The statuses each suppression may replace. An unsubscribed member stays unsubscribed (their
# own choice, with its consent record); a complaint outranks a bounce; nothing a bounce does
# ever makes a member active again.
REPLACEABLE: dict[str, tuple[str, ...]] = {
    "bounced": ("pending", "active"),
    "complained": ("pending", "active", "bounced"),
}
# Deliveries a report can prove bounced: sent, or in doubt (a report proves it went out).
BOUNCEABLE_DELIVERIES = ("sent", "uncertain")

# RFC 3463: the first digit is the class: 4 = persistent transient (soft), 5 = permanent
# (hard). These class-5 subjects are about the message or the receiving system rather than
# the address, so they count as soft: a spam filter or DMARC policy refusing one issue at a
# big provider must not suppress every member there at once. X.2.2 is "mailbox full", which
# RFC 3463 itself calls "in general … a temporary error"; X.3.4 is "message too big".
SOFT_DESPITE_PERMANENT = ("5.2.2", "5.3.4", "5.7.")
# RFC 5321 reply codes when no enhanced code was given; 552 is "exceeded storage allocation".
SOFT_SMTP_CODES = ("552",)
STATUS_CODE = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
REPORT_ID_LIMIT = 255
# Objects already in the session see what the UPDATE did in the database, not a guess made
# in Python from values another transaction may have changed meanwhile.
FETCH = {"synchronize_session": "fetch"}


def classify(status_code: str = "", smtp_code: int | str | None = None) -> str:
    """``hard`` or ``soft`` from an enhanced status code (``5.1.1``) or, failing that, an SMTP
    reply code (``550``). Unknown means soft: a wrong soft costs one more try, a wrong hard
    loses a reader for good."""
    status_code = (status_code or "").strip()
    if STATUS_CODE.match(status_code):
        if status_code.startswith("5.") and not status_code.startswith(SOFT_DESPITE_PERMANENT):
            return "hard"
        return "soft"
    code = str(smtp_code or "").strip()
    if len(code) == 3 and code.startswith("5") and code not in SOFT_SMTP_CODES:
        return "hard"
    return "soft"


def record_bounce(
    session: Session,
    *,
    member_id: int | None,
    delivery_id: int | None,
    kind: str,
    status_code: str = "",
    diagnostic: str = "",
    report_id: str | None = None,
) -> Bounce | None:
    """Record a bounce or complaint and suppress the member as the rules say.

    Returns None, changing nothing, when a report with this ``report_id`` was recorded
    before: reports are delivered twice, and two deliveries may race each other.
    ``status_code`` is an RFC 3463 code (``5.1.1``); anything else is not kept, and
    ``diagnostic`` is kept without the addresses it quotes (app/redaction.py).
    """
    if kind not in BOUNCE_KINDS:
        raise ValueError(f"a bounce is one of {', '.join(BOUNCE_KINDS)}, not {kind!r}")
    bounce = _insert_once(
        session,
        Bounce(
            member_id=member_id,
            delivery_id=delivery_id,
            kind=kind,
            status_code=status_code if STATUS_CODE.match(status_code or "") else "",
            diagnostic=without_addresses(storable(diagnostic))[:2000],
            report_id=_report_key(report_id),
        ),
    )
    if bounce is None:
        return None
    if member_id is not None:
        _apply_to_member(session, bounce)
    if delivery_id is not None and kind != "soft":
        _mark_delivery(session, bounce)
    return bounce


def history(session: Session, member_id: int) -> list[Bounce]:
    """A member's bounces and complaints, newest first (the editor's member page)."""
    return list(
        session.scalars(
            select(Bounce).where(Bounce.member_id == member_id).order_by(Bounce.id.desc())
        )
    )


def storable(text: str | None) -> str:
    """Text any database stores: no NUL (PostgreSQL refuses it), no lone surrogates (what
    the email parser makes of undecodable 8-bit headers)."""
    return (text or "").replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _report_key(report_id: str | None) -> str | None:
    """The unique key of a report: its Message-ID, hashed when too long for the column."""
    report_id = storable(report_id).strip()
    if not report_id:
        return None
    if len(report_id) > REPORT_ID_LIMIT:
        return "sha256:" + hashlib.sha256(report_id.encode()).hexdigest()
    return report_id


def _insert_once(session: Session, bounce: Bounce) -> Bounce | None:
    """Insert ``bounce`` unless its report is known; the unique index settles a race."""
    if bounce.report_id is not None and _report_seen(session, bounce.report_id):
        return None
    try:
        with session.begin_nested():
            session.add(bounce)
    except IntegrityError:
        if bounce.report_id is not None and _report_seen(session, bounce.report_id):
            return None  # the other transaction recorded the same report first
        raise
    return bounce


def _report_seen(session: Session, report_id: str) -> bool:
    return session.scalar(select(exists().where(Bounce.report_id == report_id))) or False


def _apply_to_member(session: Session, bounce: Bounce) -> None:
    """Count and suppress in SQL, so concurrent reports never lose an increment."""
    member = Member.id == bounce.member_id
    now = bounce.received_at or utcnow()
    changes = {}
    if bounce.kind != "complaint":
        changes["last_bounced_at"] = now  # SET reads the old value in the CASE below
    if bounce.kind == "soft" and _first_for_delivery(session, bounce):
        recent = Member.last_bounced_at >= now - SOFT_BOUNCE_WINDOW
        changes["soft_bounces"] = case((recent, Member.soft_bounces + 1), else_=1)
    if changes:
        session.execute(update(Member).where(member).values(**changes), execution_options=FETCH)
    status, threshold = SUPPRESSION[bounce.kind]
    conditions = [member, Member.status.in_(REPLACEABLE[status])]
    if threshold is not None:
        conditions.append(Member.soft_bounces >= threshold)
    # The status before, for the event: an UPDATE returns only the new one.
    was = {"status": session.scalar(select(Member.status).where(member))}
    suppressed = session.execute(
        update(Member).where(*conditions).values(status=status), execution_options=FETCH
    ).rowcount
    if suppressed:
        webhooks.member_changed(session, session.get(Member, bounce.member_id), was)


def _first_for_delivery(session: Session, bounce: Bounce) -> bool:
    """Whether this is the first soft bounce of its delivery (a delivery counts once)."""
    if bounce.delivery_id is None:
        return True
    earlier = (
        exists()
        .where(Bounce.delivery_id == bounce.delivery_id, Bounce.id != bounce.id)
        .where(Bounce.kind == "soft")
    )
    return not session.scalar(select(earlier))


def _mark_delivery(session: Session, bounce: Bounce) -> None:
    reason = " ".join(part for part in (bounce.kind, bounce.status_code, bounce.diagnostic) if part)
    session.execute(
        update(Delivery)
        .where(Delivery.id == bounce.delivery_id, Delivery.status.in_(BOUNCEABLE_DELIVERIES))
        .values(status="bounced", error=reason[:1000]),
        execution_options=FETCH,
    )
