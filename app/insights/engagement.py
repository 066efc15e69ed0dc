"""Each member's engagement score, 0–100, and its level, recomputed in one INSERT … SELECT.

Over the last ``WINDOW`` (90 days), points for what the member did, each signal capped so
that no single habit makes a member "highly engaged":

| signal | points each | at most |
| --- | --- | --- |
| issues they opened (a reader's open or a click; only while counting is on) | 6 | 30 |
| issues in which they clicked a link (only while counting is on) | 10 | 20 |
| posts: replies to issues (web or mailed) and forum posts | 10 | 30 |
| forum activity: reactions given, threads read | 2 | 10 |
| one-click feedback votes | 5 | 10 |

score = 100 × points ÷ the most points possible (100 with counting on; 50 without, so a
member's score does not fall just because the editor does not count opens).
Levels: ``high`` from 50, ``medium`` from 20, ``low`` below. Machine opens never count.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Integer, and_, case, cast, delete, func, insert, literal, select, union
from sqlalchemy.orm import Session

from app.db import utcnow
from app.discussions.models import FeedbackVote, Post, Reaction, ReadMarker
from app.insights.models import EmailOpen, MemberEngagement

WINDOW = timedelta(days=90)
HIGH, MEDIUM = 50, 20
# signal → (points each, cap, counted only while opens and clicks are counted)
WEIGHTS = {
    "opens": (6, 30, True),
    "clicks": (10, 20, True),
    "posts": (10, 30, False),
    "forum": (2, 10, False),
    "votes": (5, 10, False),
}


def level_for(score: int) -> str:
    return "high" if score >= HIGH else "medium" if score >= MEDIUM else "low"


def _per_member(member_column, condition, counted=None):
    counted = func.count() if counted is None else counted
    return (
        select(member_column.label("member_id"), counted.label("n"))
        .where(condition, member_column.is_not(None))
        .group_by(member_column)
        .subquery()
    )


def _signals(since: datetime) -> dict[str, list]:
    """Per signal, the subqueries whose ``n`` add up to it."""
    # A reader's first sign of life with an issue: a pixel fetch of theirs, or a click.
    opened = EmailOpen.first_opened_at >= since
    clicked = and_(EmailOpen.clicks > 0, EmailOpen.last_at >= since)
    return {
        "opens": [_per_member(EmailOpen.member_id, opened)],
        "clicks": [_per_member(EmailOpen.member_id, clicked)],
        "posts": [
            _per_member(Post.author_id, and_(Post.created_at >= since, Post.status != "deleted"))
        ],
        "forum": [
            _per_member(Reaction.member_id, Reaction.created_at >= since),
            _per_member(ReadMarker.member_id, ReadMarker.read_at >= since),
        ],
        "votes": [_per_member(FeedbackVote.member_id, FeedbackVote.created_at >= since)],
    }


def recompute(session: Session, *, counting: bool, now: datetime | None = None) -> int:
    """Replace every score; returns how many members scored above zero.

    Only members who did something in the window get a row: everyone else scores 0, which
    is ``low`` — as is a member without a row — so a quiet audience costs nothing here.
    """
    now = now or utcnow()
    used = {name: weight for name, weight in WEIGHTS.items() if counting or not weight[2]}
    most = sum(cap for _, cap, _ in used.values())
    signals = {
        name: subqueries for name, subqueries in _signals(now - WINDOW).items() if name in used
    }
    active = union(
        *(select(sub.c.member_id) for subs in signals.values() for sub in subs)
    ).subquery()
    query = select(active.c.member_id)
    points = literal(0)
    for name, subqueries in signals.items():
        total = literal(0)
        for subquery in subqueries:
            query = query.outerjoin(subquery, subquery.c.member_id == active.c.member_id)
            total = total + func.coalesce(subquery.c.n, 0)
        each, cap, _ = used[name]
        points = points + case((total * each > cap, cap), else_=total * each)
    scored = query.add_columns(
        cast(func.round(points * 100.0 / most), Integer).label("score")
    ).subquery()
    level = case(
        (scored.c.score >= HIGH, "high"), (scored.c.score >= MEDIUM, "medium"), else_="low"
    )
    stamp = MemberEngagement.computed_at.type
    session.execute(delete(MemberEngagement))
    session.execute(
        insert(MemberEngagement).from_select(
            ["member_id", "score", "level", "computed_at"],
            select(scored.c.member_id, scored.c.score, level, literal(now, stamp)),
        )
    )
    return session.scalar(select(func.count()).select_from(MemberEngagement)) or 0


def of_member(session: Session, member_id: int) -> MemberEngagement | None:
    return session.get(MemberEngagement, member_id)
