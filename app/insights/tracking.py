"""Counting opens and clicks of issue emails — only when the editor turns it on.

Off by default (``Publication.count_opens_clicks``); when on, the site footer and every issue
email say "This newsletter counts opens and clicks". Then each issue email's HTML carries:

- a 1×1 pixel ``/o/<token>.gif``, and
- instead of each http(s) link, ``/c/<token>/<n>``: ``n`` is the link's position in the issue's
  stored list (``IssueLink``), numbered once per issue when the email is rendered. The
  redirect goes to the URL stored under ``n``, never to anything the clicked URL carries, so
  no one can make Kith redirect elsewhere. The plain-text part keeps the real links.

``<token>`` is signed and names one delivery (and its issue), so one email's links and pixel
are the same for every link and differ for every recipient; it is filled in per recipient by
the same cheap substitution as the unsubscribe link (sending/prepared.py).

Machine opens: mail clients and proxies that fetch images for the reader say nothing about
the reader. An open is flagged ``machine`` (counted apart, never in the open rate, never
setting ``Member.last_opened_at``) when any of these hold:

1. the user agent is exactly ``Mozilla/5.0`` — what Apple Mail Privacy Protection's image
   proxy sends (real clients name their engine and platform);
2. the request comes from Apple's own networks (17.0.0.0/8, 2620:149::/32, 2a01:b740::/32),
   where MPP fetches every image as the message arrives, whether or not it is ever read;
3. it comes within ``MACHINE_WINDOW`` of the message being sent: people do not open mail
   that fast; prefetchers and security scanners do.
"""

from __future__ import annotations

import html
import ipaddress
import re
from collections.abc import Iterable
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.config import Settings
from app.insights.models import EmailOpen, IssueLink, LinkClick
from app.issues import service as issues
from app.members.models import Member
from app.sending.models import Delivery
from app.sending.prepared import TRACK_MARKER
from app.upserts import upsert

NOTICE = "This newsletter counts opens and clicks."
PERSONAL = "%%KITH_"  # the prefix of every per-recipient marker in a prepared email
SALT = "kith.track"
MACHINE_WINDOW = timedelta(seconds=2)
APPLE_PROXY_AGENT = "Mozilla/5.0"
APPLE_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("17.0.0.0/8", "2620:149::/32", "2a01:b740::/32")
)
MAX_URL = 2000  # longer links are left as they are
_HREF = re.compile(r'href="(https?://[^"]+)"', re.IGNORECASE)
# A transparent 1×1 GIF.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


class TrackingError(ValueError):
    """A tracking link that cannot be followed; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


# --- the setting --------------------------------------------------------------------------


def enabled(session: Session) -> bool:
    return bool(issues.publication(session).count_opens_clicks)


def set_enabled(session: Session, on: bool) -> None:
    """Turn counting on or off. Pages change (the footer notice), so every cache drops."""
    issues.content_changed(session)  # also makes the publication row the first time
    issues.publication(session).count_opens_clicks = on
    session.flush()


# --- tokens -------------------------------------------------------------------------------


def sign(settings: Settings, delivery_id: int, issue_id: int) -> str:
    return URLSafeSerializer(settings.secret_key, salt=SALT).dumps([delivery_id, issue_id])


def read_token(settings: Settings, token: str) -> tuple[int, int]:
    """(delivery id, issue id) of a valid token; TrackingError (400) for anything else."""
    try:
        payload = URLSafeSerializer(settings.secret_key, salt=SALT).loads(token)
    except BadSignature:
        payload = None
    valid = (
        isinstance(payload, list)
        and len(payload) == 2
        and all(type(value) is int and value >= 0 for value in payload)
    )
    if not valid:
        raise TrackingError("This link is damaged. Check that it was copied whole.", 400)
    return payload[0], payload[1]


# --- rewriting an email -------------------------------------------------------------------


def urls_in(*documents: str) -> list[str]:
    """The distinct http(s) links of ``documents`` (HTML), in order of first appearance.

    Links carrying a recipient's own token (the unsubscribe and rating links, filled in per
    recipient by sending/prepared.py) are left as they are: they are Kith's, not the issue's.
    """
    found: dict[str, None] = {}
    for document in documents:
        for match in _HREF.finditer(document):
            url = html.unescape(match.group(1))
            if PERSONAL in url:
                continue
            if len(url) <= MAX_URL and not any(ch.isspace() or ord(ch) < 32 for ch in url):
                found.setdefault(url, None)
    return list(found)


def number_links(session: Session, issue_id: int, urls: Iterable[str]) -> dict[str, int]:
    """Each URL's position in the issue's link list; new URLs are appended once.

    Two workers rendering the same issue at once append the same URLs in the same order; the
    primary key makes the second insert fail, and it reads the first one's list.
    """
    for _attempt in range(3):
        known = {
            link.url: link.position
            for link in session.scalars(select(IssueLink).where(IssueLink.issue_id == issue_id))
        }
        new = [url for url in dict.fromkeys(urls) if url not in known]
        if not new:
            return known
        start = max(known.values(), default=0)
        try:
            with session.begin_nested():
                session.add_all(
                    IssueLink(issue_id=issue_id, position=start + n, url=url)
                    for n, url in enumerate(new, start=1)
                )
        except IntegrityError:
            continue  # another worker numbered them first: read its list
    raise RuntimeError(f"could not number the links of issue {issue_id}")


def rewrite(document: str, positions: dict[str, int], base_url: str) -> str:
    """``document`` with each known link replaced by its tracked form and the pixel added."""
    base = base_url.rstrip("/")

    def tracked(match: re.Match) -> str:
        position = positions.get(html.unescape(match.group(1)))
        if position is None:
            return match.group(0)
        return f'href="{base}/c/{TRACK_MARKER}/{position}"'

    pixel = (
        f'<img src="{base}/o/{TRACK_MARKER}.gif" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0">'
    )
    rewritten = _HREF.sub(tracked, document)
    head, body_end, tail = rewritten.rpartition("</body>")
    return f"{head}{pixel}{body_end}{tail}" if body_end else rewritten + pixel


# --- opens and clicks ---------------------------------------------------------------------


def is_machine_open(
    user_agent: str, ip: str | None, *, sent_at: datetime | None, now: datetime
) -> bool:
    """Whether an image fetch was a machine's, not a reader's (see the module's docstring)."""
    if (user_agent or "").strip() == APPLE_PROXY_AGENT:
        return True
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        address = None
    if address is not None and any(address in network for network in APPLE_NETWORKS):
        return True
    return sent_at is not None and now - sent_at < MACHINE_WINDOW


def _delivery(session: Session, delivery_id: int, issue_id: int) -> Delivery | None:
    delivery = session.get(Delivery, delivery_id) if delivery_id else None
    return delivery if delivery is not None and delivery.issue_id == issue_id else None


def record_open(
    session: Session,
    settings: Settings,
    token: str,
    *,
    user_agent: str,
    ip: str | None,
    now: datetime,
) -> bool | None:
    """Count a pixel fetch: True for a reader's open, False for a machine's, None when nothing
    was counted (counting is off, or the delivery is gone). TrackingError for a bad token."""
    delivery_id, issue_id = read_token(settings, token)
    if not enabled(session):
        return None
    delivery = _delivery(session, delivery_id, issue_id)
    if delivery is None:
        return None
    machine = is_machine_open(user_agent, ip, sent_at=delivery.sent_at, now=now)
    _count(session, delivery, now, opens=int(not machine), machine_opens=int(machine))
    return not machine


def _count(session: Session, delivery: Delivery, now: datetime, **added: int) -> None:
    """Add to the delivery's opens and clicks in one upsert; anything but a machine's open is
    a reader's sign of life (``first_opened_at``, ``Member.last_opened_at``)."""
    counts = {"opens": 0, "machine_opens": 0, "clicks": 0} | added
    human = bool(counts["opens"] or counts["clicks"])
    row = {
        "delivery_id": delivery.id,
        "issue_id": delivery.issue_id,
        "member_id": delivery.member_id,
        **counts,
        "first_opened_at": now if human else None,
        "last_at": now,
    }
    table = EmailOpen.__table__
    upsert(
        session,
        table,
        [row],
        keys=["delivery_id"],
        changes=lambda new: {
            **{name: table.c[name] + new[name] for name in counts},
            "first_opened_at": func.coalesce(table.c.first_opened_at, new.first_opened_at),
            "last_at": new.last_at,
        },
    )
    if human:
        _seen(session, delivery.member_id, now)


def follow(session: Session, settings: Settings, token: str, position: int, *, now: datetime):
    """The URL a tracked link leads to, counting the click when counting is on.

    TrackingError: 400 for a damaged token, 404 for a link the issue does not have.
    """
    delivery_id, issue_id = read_token(settings, token)
    link = session.get(IssueLink, (issue_id, position))
    if link is None:
        raise TrackingError("This link does not lead anywhere.", 404)
    delivery = _delivery(session, delivery_id, issue_id)
    if delivery is not None and enabled(session):
        table = LinkClick.__table__
        row = {
            "delivery_id": delivery.id,
            "position": position,
            "issue_id": issue_id,
            "member_id": delivery.member_id,
            "clicks": 1,
            "first_clicked_at": now,
            "last_clicked_at": now,
        }
        upsert(
            session,
            table,
            [row],
            keys=["delivery_id", "position"],
            changes=lambda new: {
                "clicks": table.c.clicks + 1,
                "last_clicked_at": new.last_clicked_at,
            },
        )
        _count(session, delivery, now, clicks=1)
    return link.url


def _seen(session: Session, member_id: int | None, now: datetime) -> None:
    """A reader opened or clicked: what the ``opened:`` segment term reads."""
    if member_id is None:
        return
    session.execute(
        update(Member)
        .where(
            Member.id == member_id,
            or_(Member.last_opened_at.is_(None), Member.last_opened_at < now),
        )
        .values(last_opened_at=now),
        execution_options={"synchronize_session": False},
    )
