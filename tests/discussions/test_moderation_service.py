"""The moderators' side of discussions: the queue, each action and its audit row, suspensions,
the log and its filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.db import utcnow
from app.discussions import moderation, service
from app.discussions.models import ModerationAction, PostReport
from app.discussions.service import PostRefused
from tests.conftest import make_member


def report(session, reporter, post, reason="", *, minutes_ago=0):
    assert moderation.report_post(session, reporter, post, reason)
    session.execute(
        update(PostReport)
        .where(PostReport.post_id == post.id, PostReport.reporter_id == reporter.id)
        .values(created_at=utcnow() - timedelta(minutes=minutes_ago))
    )


def last_action(session) -> ModerationAction:
    return session.scalars(select(ModerationAction).order_by(ModerationAction.id.desc())).first()


@pytest.fixture
def posts(session, thread, people):
    return [service.create_post(session, people["free"], thread, f"Post {n}") for n in range(5)]


def test_queue_holds_open_reports_most_reported_then_newest(session, posts, people):
    twice, newer, older, dismissed, deleted = posts
    report(session, people["paid"], twice, "spam", minutes_ago=30)
    report(session, people["invite"], twice, "rude", minutes_ago=20)
    report(session, people["paid"], newer, "off topic", minutes_ago=1)
    report(session, people["paid"], older, minutes_ago=50)
    report(session, people["paid"], dismissed)
    moderation.dismiss_reports(session, people["editor"], dismissed)
    report(session, people["paid"], deleted)
    moderation.delete_own_post(session, people["free"], deleted)  # nothing left to judge

    page = moderation.queue(session)
    assert [item.post.id for item in page.items] == [twice.id, newer.id, older.id]
    assert page.total == 3
    reasons = [(r.reason, who.email) for r, who in page.items[0].reports]
    assert reasons == [("rude", "invite@example.com"), ("spam", "paid@example.com")]
    assert moderation.tallies(session)["reported"] == 3


def test_queue_pages_and_a_page_past_the_end_gives_the_last(session, posts, people):
    for post in posts:
        report(session, people["paid"], post)
    first, last = moderation.queue(session, 1, 2), moderation.queue(session, 3, 2)
    assert (first.pages, len(first.items), last.number, len(last.items)) == (3, 2, 3, 1)
    assert moderation.queue(session, 99, 2).number == 3
    assert moderation.queue(session, 0, 2).number == 1
    empty = moderation.hidden_posts(session, 5, 2)
    assert (empty.items, empty.number, empty.pages) == ([], 1, 1)


@pytest.mark.parametrize(
    ("status", "action", "resolution", "body"),
    [("hidden", "hide", "hidden", "<p>Post 0</p>\n"), ("deleted", "delete", "deleted", "")],
)
def test_hiding_or_deleting_resolves_reports_and_is_logged(
    session, posts, people, status, action, resolution, body
):
    post = posts[0]
    report(session, people["paid"], post, "spam")
    moderation.set_post_status(session, people["editor"], post, status, "  spam  ")
    assert (post.status, post.body_html, post.thread.post_count) == (status, body, 4)
    assert session.scalar(select(PostReport.resolution)) == resolution
    row = last_action(session)
    assert (row.action, row.target_type, row.target_id, row.reason) == (
        action, "post", post.id, "spam",
    )  # fmt: skip
    assert row.moderator_id == people["editor"].id
    assert moderation.queue(session).total == 0


def test_unhide_brings_a_post_back_and_hidden_posts_lists_it_until_then(session, posts, people):
    editor, post = people["editor"], posts[1]
    moderation.set_post_status(session, editor, post, "hidden")
    assert [p.id for p in moderation.hidden_posts(session).items] == [post.id]
    with pytest.raises(moderation.ModerationError, match="already hidden"):
        moderation.set_post_status(session, editor, post, "hidden")
    moderation.set_post_status(session, editor, post, "visible", "a mistake")
    assert post.status == "visible" and post.thread.post_count == 5
    assert moderation.hidden_posts(session).total == 0
    assert (last_action(session).action, last_action(session).reason) == ("unhide", "a mistake")


def test_dismissing_keeps_the_post_and_logs(session, posts, people):
    post = posts[2]
    report(session, people["paid"], post, "meh")
    moderation.dismiss_reports(session, people["editor"], post, "fine as it is")
    assert post.status == "visible"
    assert session.scalar(select(PostReport.resolution)) == "dismissed"
    assert last_action(session).action == "dismiss-reports"


def test_refused_actions_change_nothing(session, posts, people):
    post = posts[0]
    with pytest.raises(moderation.ModerationError, match="Unknown post status"):
        moderation.set_post_status(session, people["editor"], post, "purple")
    with pytest.raises(moderation.ModerationError, match="Only editors"):
        moderation.set_post_status(session, people["paid"], post, "hidden")
    moderation.set_post_status(session, people["editor"], post, "deleted")
    with pytest.raises(moderation.ModerationError, match="deleted"):
        moderation.set_post_status(session, people["editor"], post, "visible")
    assert [a.action for a in session.scalars(select(ModerationAction))] == ["delete"]


@pytest.mark.parametrize(("choice", "days"), [("1d", 1), ("7d", 7), ("30d", 30)])
def test_suspension_lengths(choice, days):
    now = utcnow()
    assert moderation.suspension_end(choice, now=now) == now + timedelta(days=days)


@pytest.mark.parametrize("choice", ["", "2d", "forever", "1D", "lifted "])
def test_a_bad_suspension_length_is_a_clear_error(choice):
    with pytest.raises(moderation.ModerationError, match="1 day, 7 days, 30 days, until lifted"):
        moderation.suspension_end(choice)


@pytest.mark.parametrize("choice", ["7d", "lifted"])
def test_a_suspended_member_cannot_post_until_lifted(session, thread, people, choice):
    editor, free = people["editor"], people["free"]
    until = moderation.suspension_end(choice)
    moderation.suspend(session, editor, free, until, "cool off")
    with pytest.raises(PostRefused) as refused:
        service.create_post(session, free, thread, "Let me in")
    assert refused.value.reason == "suspended"
    shown = moderation.suspension(free)
    assert (shown.until, shown.indefinite) == (until, choice == "lifted")
    assert [m.id for m in moderation.suspended_members(session).items] == [free.id]
    assert (last_action(session).action, last_action(session).target_type) == ("suspend", "member")

    moderation.suspend(session, editor, free, None, "served")
    assert moderation.suspension(free) is None and moderation.suspended_members(session).total == 0
    assert service.create_post(session, free, thread, "Back again").status == "visible"
    assert (last_action(session).action, last_action(session).reason) == ("unsuspend", "served")
    with pytest.raises(moderation.ModerationError, match="not suspended"):
        moderation.suspend(session, editor, free, None)


def test_an_ended_suspension_is_none_and_lists_nobody(session, people):
    free = people["free"]
    moderation.suspend(session, people["editor"], free, utcnow() + timedelta(hours=1))
    later = utcnow() + timedelta(hours=2)
    assert moderation.suspension(free, now=later) is None
    assert moderation.suspended_members(session, now=later).total == 0


def test_editors_cannot_be_suspended(session, people):
    other = make_member(session, email="second@example.com", role="editor")
    with pytest.raises(moderation.ModerationError, match="Editors cannot be suspended"):
        moderation.suspend(session, people["editor"], other, moderation.UNTIL_LIFTED)
    assert other.posting_suspended_until is None
    assert session.scalar(select(ModerationAction.id)) is None


def test_log_newest_first_with_targets_and_filters(session, thread, posts, people):
    editor, free = people["editor"], people["free"]
    second = make_member(session, email="second@example.com", role="editor")
    moderation.set_post_status(session, editor, posts[0], "hidden", "spam")
    moderation.set_thread_flag(session, second, thread, "locked", True)
    moderation.suspend(session, second, free, moderation.suspension_end("1d"), "cool off")

    entries = moderation.log(session).items
    assert [e.action.action for e in entries] == ["suspend", "lock-thread", "hide"]
    suspend, lock, hide = entries
    assert (suspend.member, suspend.moderator, suspend.thread_id) == (free, second, None)
    assert (lock.thread_id, lock.member) == (thread.id, None)
    assert (hide.thread_id, hide.moderator.id) == (thread.id, editor.id)

    assert [e.action.action for e in moderation.log(session, action="hide").items] == ["hide"]
    by_second = moderation.log(session, moderator_id=second.id)
    assert [e.action.action for e in by_second.items] == ["suspend", "lock-thread"]
    assert moderation.log(session, action="hide", moderator_id=second.id).total == 0
    assert moderation.log(session, number=2, per_page=2).items[0].action.action == "hide"
    with pytest.raises(moderation.ModerationError, match="Unknown action"):
        moderation.log(session, action="explode")
    assert {m.email for m in moderation.moderators(session)} == {
        "editor@example.com", "second@example.com",
    }  # fmt: skip


def test_log_of_a_post_that_is_gone_has_no_link(session, posts, people):
    moderation.set_post_status(session, people["editor"], posts[0], "hidden")
    session.delete(posts[0])
    session.flush()
    (entry,) = moderation.log(session).items
    assert (entry.action.target_type, entry.thread_id) == ("post", None)


def test_posting_summary_counts_posts_reports_and_suspension(session, thread, posts, people):
    free = people["free"]
    posts[0].created_at = utcnow() - timedelta(days=40)
    report(session, people["paid"], posts[1])
    summary = moderation.posting_summary(session, free)
    assert (summary.posts, summary.recent_posts, summary.open_reports) == (5, 4, 1)
    assert summary.suspension is None
    moderation.suspend(session, people["editor"], free, moderation.UNTIL_LIFTED)
    assert moderation.posting_summary(session, free).suspension.indefinite
