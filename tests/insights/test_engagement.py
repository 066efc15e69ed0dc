"""Engagement scores by the documented formula, the ``engaged:`` segment term, the member
page, and the maintenance that keeps them fresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.discussions import service as discussions
from app.discussions.models import FeedbackVote
from app.insights import engagement, jobs
from app.insights.models import EmailOpen, InsightRun, LinkClick, MemberEngagement
from app.issues import service as issues
from app.members import segments
from app.members.models import Member
from app.sending.models import Delivery, Send
from tests.conftest import make_member, sign_in

NOW = datetime.now(UTC)


def delivered(session, issue, member) -> Delivery:
    send = Send(issue_id=issue.id, expression="all", status="done")
    session.add(send)
    session.flush()
    row = Delivery(send_id=send.id, issue_id=issue.id, member_id=member.id, status="sent")
    session.add(row)
    session.flush()
    return row


def opened(session, issue, member, *, machine=False, clicks=0) -> Delivery:
    row = delivered(session, issue, member)
    session.add(
        EmailOpen(
            delivery_id=row.id,
            issue_id=issue.id,
            member_id=member.id,
            opens=0 if machine else 1,
            machine_opens=1 if machine else 0,
            clicks=clicks,
            first_opened_at=None if machine else NOW - timedelta(days=1),
            last_at=NOW - timedelta(days=1),
        )
    )
    return row


@pytest.fixture
def activity(session):
    """What four members did; the points each signal gives are in each line's comment."""
    one, two = (
        issues.publish(session, issues.save_issue(session, {"title": title}))
        for title in ("One", "Two")
    )
    people = {
        name: make_member(session, email=f"{name}@example.com")
        for name in ("ann", "bob", "cyd", "dee")
    }
    ann, bob, cyd, dee = people.values()
    thread = discussions.issue_thread(session, one)
    # ann: two issues opened (12), a click (10), three posts (30), two votes (10), a thread
    # read (2): 64.
    opened(session, one, ann)
    clicked = opened(session, two, ann, clicks=2)
    session.add(
        LinkClick(delivery_id=clicked.id, position=1, issue_id=two.id, member_id=ann.id, clicks=2)
    )
    for n in range(3):
        discussions.create_post(session, ann, thread, f"Thought {n}.")
    session.add_all(
        FeedbackVote(issue_id=issue.id, member_id=ann.id, choice=1) for issue in (one, two)
    )
    discussions.mark_read(session, ann, thread)
    # bob: only a machine opened his email (0), one post (10), one reaction (2): 12.
    opened(session, one, bob, machine=True)
    post = discussions.create_post(session, bob, thread, "Hello.")
    discussions.toggle_reaction(session, bob, post, "like")
    # cyd: a post from before the 90-day window: 0.
    discussions.create_post(session, cyd, thread, "Long ago.", now=NOW - timedelta(days=100))
    # dee: two posts (20), a vote (5): 25.
    for n in range(2):
        discussions.create_post(session, dee, thread, f"Point {n}.")
    session.add(FeedbackVote(issue_id=one.id, member_id=dee.id, choice=3))
    session.commit()
    return people


def scores(session) -> dict[str, tuple[int, str]]:
    rows = session.execute(
        select(Member.email, MemberEngagement.score, MemberEngagement.level).join(
            MemberEngagement, MemberEngagement.member_id == Member.id
        )
    )
    return {email.split("@")[0]: (score, level) for email, score, level in rows}


def test_scores_follow_the_formula_with_counting_on(session, activity):
    assert engagement.recompute(session, counting=True) == 3  # cyd scores 0: no row
    assert scores(session) == {"ann": (64, "high"), "bob": (12, "low"), "dee": (25, "medium")}


def test_without_counting_the_other_signals_fill_the_scale(session, activity):
    engagement.recompute(session, counting=False)
    # Out of 50 points (posts 30, forum 10, votes 10), doubled to 100.
    assert scores(session) == {"ann": (84, "high"), "bob": (24, "medium"), "dee": (50, "high")}


def test_a_recompute_replaces_every_score(session, activity):
    engagement.recompute(session, counting=True)
    assert engagement.recompute(session, counting=True, now=NOW + timedelta(days=120)) == 0
    assert scores(session) == {}  # all of it older than 90 days: everyone is low


def emails(session, expression: str) -> list[str]:
    query = select(Member.email).where(segments.where(expression)).order_by(Member.email)
    return [email.split("@")[0] for email in session.scalars(query)]


def test_the_engaged_segment_term(session, activity):
    engagement.recompute(session, counting=True)
    make_member(session, email="eve@example.com")  # joined since: not scored, so low
    assert emails(session, "engaged:high") == ["ann"]
    assert emails(session, "engaged:medium") == ["dee"]
    assert emails(session, "engaged:HIGH|medium") == ["ann", "dee"]
    assert emails(session, "engaged:low") == ["bob", "cyd", "eve"]
    assert emails(session, "NOT engaged:low") == ["ann", "dee"]
    assert emails(session, "engaged:low AND NOT tier:paid") == ["bob", "cyd", "eve"]
    assert segments.count(session, "engaged:high OR engaged:medium OR engaged:low") == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("engaged:hot", "unknown engagement level 'hot'; use one of: low, medium, high"),
        ("engaged:high|", "unknown engagement level ''"),
        ("engaged:", "'engaged:' needs a value"),
        ("engage:high", "unknown term 'engage:high'; use one of: all, tier:, tag:, status:"),
    ],
)
def test_a_bad_engaged_term_says_what_is_wrong(text, message):
    with pytest.raises(segments.SegmentError) as raised:
        segments.parse(text)
    assert message in raised.value.message
    assert raised.value.position == 0
    assert "engaged:" in segments.TERM_HELP


def test_the_member_page_shows_the_score(client, session, editor, activity):
    sign_in(client, editor)
    ann = activity["ann"]
    page = client.get(f"/admin/members/{ann.id}").get_data(as_text=True)
    assert "0 of 100 (low: nothing in the last 90 days, or not scored yet)" in page
    engagement.recompute(session, counting=True)
    session.commit()
    page = client.get(f"/admin/members/{ann.id}").get_data(as_text=True)
    assert "64 of 100 (high, as of" in page


def test_maintenance_runs_once_per_interval_whoever_asks(app, session, activity):
    start = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert jobs.claim(session, "probe", timedelta(hours=1), now=start) is True
    assert jobs.claim(session, "probe", timedelta(hours=1), now=start) is False
    later = start + timedelta(minutes=59)
    assert jobs.claim(session, "probe", timedelta(hours=1), now=later) is False
    assert jobs.claim(session, "probe", timedelta(hours=1), now=start + timedelta(hours=1))
    with app.app_context():
        assert jobs.maintain() is True  # the first run refreshes everything…
        assert jobs.maintain() is False  # …and the next worker within the hour does nothing
    session.expire_all()
    assert scores(session)["ann"] == (84, "high")  # counting is off: (30 + 2 + 10) × 2
    assert session.get(InsightRun, jobs.CLAIM) is not None


def test_the_refresh_command(app, session, activity):
    result = app.test_cli_runner().invoke(args=["insights", "refresh", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert "over 30 days; 3 members scored above 0" in result.output
    bad = app.test_cli_runner().invoke(args=["insights", "refresh", "--days", "0"])
    assert bad.exit_code != 0 and "--days" in bad.output
