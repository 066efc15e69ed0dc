"""The issue report: what one issue's send, page and thread did, each figure one SQL aggregate.

Nothing here loops over deliveries in Python: every figure is a count or sum the database
computes from an index (``ix_deliveries_issue_id_status_id``, ``ix_email_opens_issue_id``), so
a report over a million deliveries takes well under a second (bench/report.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from app.discussions.models import FeedbackVote, Post, Thread
from app.insights.models import EmailOpen, IssueLink, IssueReadDay, LinkClick
from app.insights.tracking import enabled as counting_enabled
from app.issues.models import Issue
from app.members.models import ConsentEvent
from app.sending.models import Bounce, Delivery

PENDING_STATES = ("queued", "claimed", "sending")
# Taken by the receiving server. A complaint marks its delivery ``bounced`` too, yet it was
# delivered: so delivered = accepted minus the accepted deliveries with a hard or soft bounce.
ACCEPTED = ("sent", "bounced")


@dataclass(frozen=True)
class Figure:
    """One line of the report: a count and, where it means something, its share of ``of``."""

    key: str
    label: str
    value: int
    of: int | None = None  # the denominator of the percentage

    @property
    def percent(self) -> float | None:
        if self.of is None or self.of <= 0:
            return None
        return 100.0 * self.value / self.of


@dataclass(frozen=True)
class LinkFigure:
    position: int
    url: str
    clickers: int  # recipients who clicked it
    clicks: int


@dataclass
class IssueReport:
    issue: Issue
    figures: list[Figure]
    votes: list[tuple[int, int]]  # (choice, votes) for 1..feedback_choices
    links: list[LinkFigure] = field(default_factory=list)
    counting: bool = False  # opens and clicks are counted now
    counted: bool = False  # there are opens or clicks for this issue (counted when sent)

    def figure(self, key: str) -> Figure:
        return next(figure for figure in self.figures if figure.key == key)


def issue_by_slug(session: Session, slug: str) -> Issue | None:
    return session.scalar(select(Issue).where(Issue.slug == slug))


def issue_report(session: Session, issue: Issue) -> IssueReport:
    statuses, bounces, lost = _deliveries(session, issue.id)
    recipients = sum(statuses.values())
    delivered = sum(statuses.get(status, 0) for status in ACCEPTED) - lost
    replies = _replies(session, issue.id)
    opened, machine_only, clickers = _opens_and_clicks(session, issue.id)
    figures = [
        Figure("recipients", "Recipients", recipients),
        Figure("delivered", "Delivered (accepted, not bounced)", delivered, recipients),
        Figure("pending", "Not sent yet", sum(statuses.get(s, 0) for s in PENDING_STATES)),
        Figure("failed", "Failed", statuses.get("failed", 0), recipients),
        Figure("uncertain", "In doubt (may have arrived)", statuses.get("uncertain", 0)),
        Figure("skipped", "Skipped (left or cancelled)", statuses.get("skipped", 0)),
        Figure("bounced_hard", "Hard bounces", bounces.get("hard", 0), recipients),
        Figure("bounced_soft", "Soft bounces", bounces.get("soft", 0), recipients),
        Figure("complaints", "Spam complaints", bounces.get("complaint", 0), delivered),
        Figure(
            "unsubscribes",
            "Unsubscribed from this issue",
            _unsubscribes(session, issue.id),
            delivered,
        ),  # fmt: skip
        Figure("replies_public", "Replies in the thread", replies.get(False, 0)),
        Figure("replies_private", "Private replies to the editor", replies.get(True, 0)),
        Figure("web_reads", "Web page views", _web_reads(session, issue.id)),
        Figure("opened", "Opened (by readers)", opened, delivered),
        Figure("machine_opens", "Machine opens only (excluded)", machine_only, delivered),
        Figure("clicked", "Clicked a link", clickers, delivered),
    ]
    links = _links(session, issue.id)
    return IssueReport(
        issue=issue,
        figures=figures,
        votes=_votes(session, issue),
        links=links,
        counting=counting_enabled(session),
        counted=bool(opened or machine_only or clickers),
    )


def _deliveries(session: Session, issue_id: int) -> tuple[dict[str, int], dict[str, int], int]:
    """In one pass over the issue's deliveries (an index-only scan): how many are in each
    state; how many drew a bounce or complaint of each kind (a report that came twice, or a
    soft bounce then a hard one, counts each delivery once per kind); and how many the server
    had accepted that bounced after all (not delivered)."""
    flag = {
        kind: func.max(case((Bounce.kind == kind, 1), else_=0)).label(kind)
        for kind in ("hard", "soft", "complaint")
    }
    per_delivery = (
        select(Bounce.delivery_id, *flag.values())
        .where(Bounce.delivery_id.is_not(None))
        .group_by(Bounce.delivery_id)
        .subquery()
    )
    bounced = (per_delivery.c.hard == 1) | (per_delivery.c.soft == 1)
    rows = session.execute(
        select(
            Delivery.status,
            func.count(),
            *(func.sum(per_delivery.c[kind]) for kind in flag),
            func.sum(case((bounced, 1), else_=0)),
        )
        .outerjoin(per_delivery, per_delivery.c.delivery_id == Delivery.id)
        .where(Delivery.issue_id == issue_id)
        .group_by(Delivery.status)
    )
    statuses, kinds, lost = {}, dict.fromkeys(flag, 0), 0
    for status, count, hard, soft, complaint, bounced_count in rows:
        statuses[status] = count
        for kind, value in zip(flag, (hard, soft, complaint), strict=True):
            kinds[kind] += value or 0
        if status in ACCEPTED:
            lost += bounced_count or 0
    return statuses, kinds, lost


def _unsubscribes(session: Session, issue_id: int) -> int:
    query = select(func.count()).where(
        ConsentEvent.issue_id == issue_id, ConsentEvent.action == "unsubscribe"
    )
    return session.scalar(query) or 0


def _replies(session: Session, issue_id: int) -> dict[bool, int]:
    rows = session.execute(
        select(Post.private, func.count())
        .join(Thread, Thread.id == Post.thread_id)
        .where(Thread.issue_id == issue_id, Post.status != "deleted")
        .group_by(Post.private)
    )
    return {bool(private): count for private, count in rows}


def _votes(session: Session, issue: Issue) -> list[tuple[int, int]]:
    counts = dict(
        session.execute(
            select(FeedbackVote.choice, func.count())
            .where(FeedbackVote.issue_id == issue.id)
            .group_by(FeedbackVote.choice)
        ).all()
    )
    choices = max([issue.feedback_choices or 0, *counts])
    return [(choice, counts.get(choice, 0)) for choice in range(1, choices + 1)]


def _web_reads(session: Session, issue_id: int) -> int:
    query = select(func.coalesce(func.sum(IssueReadDay.reads), 0)).where(
        IssueReadDay.issue_id == issue_id
    )
    return int(session.scalar(query) or 0)


def _opens_and_clicks(session: Session, issue_id: int) -> tuple[int, int, int]:
    """(opened, machine opens only, clicked), in one pass over the issue's opens: deliveries
    a reader opened (a reader's pixel fetch, or a click — a click proves the email was
    open), those whose pixel only machines fetched, and those with a click."""
    read = (EmailOpen.opens > 0) | (EmailOpen.clicks > 0)
    only_machines = (EmailOpen.machine_opens > 0) & ~read
    row = session.execute(
        select(
            func.count(case((read, 1))),
            func.count(case((only_machines, 1))),
            func.count(case((EmailOpen.clicks > 0, 1))),
        ).where(EmailOpen.issue_id == issue_id)
    ).one()
    return row[0] or 0, row[1] or 0, row[2] or 0


def _links(session: Session, issue_id: int) -> list[LinkFigure]:
    rows = session.execute(
        select(
            IssueLink.position,
            IssueLink.url,
            func.count(LinkClick.delivery_id),
            func.coalesce(func.sum(LinkClick.clicks), 0),
        )
        .outerjoin(
            LinkClick,
            and_(
                LinkClick.issue_id == IssueLink.issue_id, LinkClick.position == IssueLink.position
            ),
        )
        .where(IssueLink.issue_id == issue_id)
        .group_by(IssueLink.position, IssueLink.url)
        .order_by(IssueLink.position)
    )
    return [LinkFigure(*row[:3], int(row[3])) for row in rows]
