"""Posting rules, shared by every surface: the policy, nesting, privacy, limits, idempotence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_login import AnonymousUserMixin
from sqlalchemy import select

from app.db import utcnow
from app.discussions import moderation, service
from app.discussions.models import ModerationAction, Notification, PostReport
from app.discussions.service import PostRefused
from tests.conftest import counted_statements
from tests.discussions.conftest import publish_issue, topic


def test_a_member_posts_and_replies_nest_one_level(session, thread, people):
    first = service.create_post(session, people["free"], thread, "Hello **all**")
    reply = service.create_post(session, people["paid"], thread, "Hi", parent_id=first.id)
    deeper = service.create_post(session, people["free"], thread, "Yo", parent_id=reply.id)
    assert first.body_html == "<p>Hello <strong>all</strong></p>\n"
    assert reply.parent_id == first.id and deeper.parent_id == first.id
    shown = service.shown_posts(session, people["free"], thread)
    assert [item.post.id for item in shown] == [first.id]
    assert [item.post.id for item in shown[0].replies] == [reply.id, deeper.id]
    assert thread.post_count == 3
    kinds = {(n.member_id, n.kind) for n in session.query(Notification)}
    assert kinds == {(people["free"].id, "reply"), (people["paid"].id, "reply")}


def test_posts_are_sanitized(session, thread, people):
    post = service.create_post(
        session,
        people["free"],
        thread,
        "<script>alert(1)</script> [x](javascript:alert(1)) ![p](https://t.example/p.gif) "
        "[ok](https://example.com)",
    )
    assert "<script" not in post.body_html and 'href="javascript' not in post.body_html
    assert "<img" not in post.body_html
    assert 'rel="nofollow ugc noopener noreferrer"' in post.body_html


@pytest.mark.parametrize(
    ("who", "discussion", "reason"),
    [
        ("pending", "members", "sign-in"),
        (None, "members", "sign-in"),
        ("free", "paid", "upgrade"),
        ("free", "off", "off"),
        ("editor", "off", None),
        ("invite", "paid", None),
    ],
)
def test_the_policy_decides_who_posts(session, people, who, discussion, reason):
    issue = publish_issue(session, title=f"D {discussion}", discussion=discussion)
    thread = service.issue_thread(session, issue)
    author = people[who] if who else None
    if reason is None:
        assert service.create_post(session, author, thread, "Hi").id
        return
    with pytest.raises(PostRefused) as refused:
        service.create_post(session, author or AnonymousUserMixin(), thread, "Hi")
    assert refused.value.reason == reason


def test_a_paid_issue_thread_is_unreadable_without_access(session, people):
    issue = publish_issue(session, title="Paid one", visibility="paid")
    thread = service.issue_thread(session, issue)
    with pytest.raises(PostRefused):
        service.shown_posts(session, people["free"], thread)
    with pytest.raises(PostRefused) as refused:
        service.create_post(session, people["free"], thread, "Let me in")
    assert refused.value.reason == "upgrade"
    assert service.shown_posts(session, people["paid"], thread) == []


def test_private_feedback_is_for_editors_and_its_author(session, thread, people):
    post = service.create_post(session, people["free"], thread, "Just for you", private=True)
    assert thread.post_count == 0
    assert service.shown_posts(session, people["paid"], thread) == []
    assert len(service.shown_posts(session, people["free"], thread)) == 1
    assert len(service.shown_posts(session, people["editor"], thread)) == 1
    answer = service.create_post(session, people["editor"], thread, "Thanks", parent_id=post.id)
    assert answer.is_answer
    assert session.query(Notification).filter_by(post_id=answer.id).one().kind == "answer"


def test_a_mailed_reply_posts_once(session, thread, people):
    first = service.create_post(session, people["free"], thread, "Hi", message_id="<m1@x>")
    again = service.create_post(session, people["free"], thread, "Hi", message_id="<m1@x>")
    assert again.id == first.id and thread.post_count == 1


def test_empty_long_and_fast_posts_are_refused(session, thread, people):
    for body, reason in (("   ", "empty"), ("x" * (service.MAX_BODY + 1), "too-long")):
        with pytest.raises(PostRefused) as refused:
            service.create_post(session, people["free"], thread, body)
        assert refused.value.reason == reason
    for number in range(service.RATE_LIMIT):
        service.create_post(session, people["free"], thread, f"post {number}")
    with pytest.raises(PostRefused) as refused:
        service.create_post(session, people["free"], thread, "one more")
    assert refused.value.reason == "rate-limited"
    assert service.create_post(session, people["editor"], thread, "editors are not limited")


def test_authors_edit_within_the_window_and_editors_any_time(session, thread, people):
    post = service.create_post(session, people["free"], thread, "Frist")
    service.edit_post(session, people["free"], post, "First")
    assert post.body_html == "<p>First</p>\n" and post.edited_at is not None
    with pytest.raises(PostRefused):
        service.edit_post(session, people["paid"], post, "Mine now")
    later = utcnow() + timedelta(minutes=16)
    with pytest.raises(PostRefused):
        service.edit_post(session, people["free"], post, "Too late", now=later)
    service.edit_post(session, people["editor"], post, "Fixed", now=later)


def test_reactions_toggle_and_count(session, thread, people):
    post = service.create_post(session, people["free"], thread, "React to me")
    assert service.toggle_reaction(session, people["paid"], post, "heart") is True
    assert service.toggle_reaction(session, people["free"], post, "heart") is True
    shown = service.shown_posts(session, people["paid"], thread)[0]
    assert shown.reactions == {"heart": 2} and shown.mine == {"heart"}
    assert service.toggle_reaction(session, people["paid"], post, "heart") is False
    with pytest.raises(PostRefused):
        service.toggle_reaction(session, people["paid"], post, "<script>")


def test_moderation_hides_deletes_locks_suspends_and_logs(session, thread, people):
    editor, free = people["editor"], people["free"]
    post = service.create_post(session, free, thread, "Spam spam")
    reply = service.create_post(session, people["paid"], thread, "Agreed", parent_id=post.id)
    assert moderation.report_post(session, people["paid"], post, "spam")
    assert not moderation.report_post(session, people["paid"], post, "again")
    moderation.set_post_status(session, editor, post, "hidden", "spam")
    assert session.query(PostReport).one().resolution == "hidden"
    hidden_view = service.shown_posts(session, people["paid"], thread)
    assert hidden_view == []  # hidden, and its reply goes with it until it is unhidden
    moderation.set_post_status(session, editor, post, "deleted")
    shown = service.shown_posts(session, people["paid"], thread)
    assert shown[0].tombstone and shown[0].post.body_html == ""
    assert [item.post.id for item in shown[0].replies] == [reply.id]
    moderation.set_thread_flag(session, editor, thread, "locked", True)
    with pytest.raises(PostRefused) as refused:
        service.create_post(session, free, thread, "Hello?")
    assert refused.value.reason == "locked"
    moderation.set_thread_flag(session, editor, thread, "locked", False)
    moderation.suspend(session, editor, free, utcnow() + timedelta(days=1), "cool off")
    with pytest.raises(PostRefused) as refused:
        service.create_post(session, free, thread, "Hello?")
    assert refused.value.reason == "suspended"
    with pytest.raises(moderation.ModerationError):
        moderation.suspend(session, free, people["paid"], None)
    actions = [a.action for a in session.query(ModerationAction).order_by(ModerationAction.id)]
    assert actions == ["hide", "delete", "lock-thread", "unlock-thread", "suspend"]


def test_boards_gate_reading_and_posting(session, people, boards):
    for access, readers in {
        "public": {"free", "paid", "invite", "pending", "editor"},
        "members": {"free", "paid", "invite", "editor"},
        "paid": {"paid", "invite", "editor"},
    }.items():
        thread = topic(session, boards[access], people["editor"])
        for name, member in people.items():
            readable = True
            try:
                service.shown_posts(session, member, thread)
            except PostRefused:
                readable = False
            assert readable == (name in readers), (access, name)


def test_an_editors_private_answer_is_seen_by_the_member_it_answers(session, thread, people):
    feedback = service.create_post(session, people["free"], thread, "Loved it", private=True)
    service.create_post(session, people["editor"], thread, "Thank you!", parent_id=feedback.id)
    mine = service.shown_posts(session, people["free"], thread)
    assert [reply.post.body_markdown for reply in mine[0].replies] == ["Thank you!"]
    assert service.shown_posts(session, people["paid"], thread) == []


def test_a_thread_shows_its_authors_without_loading_their_tags(session, thread, people):
    """The thread page is the busiest signed-in page (bench/load.py): no statement for tags
    it never shows."""
    service.create_post(session, people["free"], thread, "First")
    service.create_post(session, people["paid"], thread, "Second")
    session.commit()
    session.expunge_all()  # authors come from the database, as in a fresh request
    viewer = session.get(type(people["free"]), people["free"].id)
    with counted_statements(session) as statements:
        shown = service.shown_posts(session, viewer, session.get(type(thread), thread.id))
    assert [item.post.author.name for item in shown] == ["Free Reader", "Paid Reader"]
    assert statements and not [sql for sql in statements if "member_tags" in sql]


def test_viewing_a_thread_with_nothing_new_writes_nothing(session, thread, people):
    from app.discussions.models import ReadMarker

    service.create_post(session, people["paid"], thread, "News")
    first_visit = utcnow()
    service.mark_read(session, people["free"], thread, now=first_visit)
    service.mark_read(session, people["free"], thread, now=first_visit + timedelta(hours=1))
    read_at = select(ReadMarker.read_at).where(ReadMarker.member_id == people["free"].id)
    assert session.scalar(read_at) == first_visit  # the second visit saw nothing new: no write
    service.create_post(session, people["paid"], thread, "More news")
    later = utcnow() + timedelta(hours=2)
    service.mark_read(session, people["free"], thread, now=later)
    assert session.scalar(read_at) == later
