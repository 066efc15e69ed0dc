"""Reply notifications: each Notification row is mailed exactly once through the real SMTP
sink, with a Reply-To token that names the conversation; a job killed between SMTP and its
commit sends again at most once; a flushed Redis loses nothing; preferences are respected."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import delete, event, select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.discussions import jobs, notifications, service
from app.discussions.mailing import TAKEN, Outgoing
from app.discussions.models import Notification, Post, Thread
from app.issues.models import Issue
from app.members import service as members
from app.members import tokens
from app.members.models import Member
from app.members.views import LOGIN_JOB
from app.queue import enqueue_mail
from tests.conftest import run_jobs
from tests.discussions.conftest import publish_issue
from tests.smtp_sink import Fault

REPLY = "Proof it overnight in the fridge; the flavour doubles."


@pytest.fixture
def conversation(session, thread, people):
    """A free member's post, then a paid member's reply to it: one notification, unsent."""
    first = service.create_post(session, people["free"], thread, "How long do I proof it?")
    reply = service.create_post(session, people["paid"], thread, REPLY, parent_id=first.id)
    session.commit()
    return first, reply


@pytest.fixture
def two_conversations(session, thread, people):
    """The paid member answers the free member, then the invited one: two notifications."""
    first = service.create_post(session, people["free"], thread, "First.")
    service.create_post(session, people["paid"], thread, "Reply.", parent_id=first.id)
    other = service.create_post(session, people["invite"], thread, "Second.")
    service.create_post(session, people["paid"], thread, "Reply too.", parent_id=other.id)
    session.commit()


def rows(session) -> list[Notification]:
    session.expire_all()
    return list(session.scalars(select(Notification).order_by(Notification.id)))


def send_now(app) -> None:
    with app.app_context():
        assert notifications.enqueue()
    run_jobs(app)


def test_a_reply_is_mailed_once_with_a_reply_token_for_the_conversation(
    app, session, thread, people, conversation, smtp, redis
):
    first, reply = conversation
    send_now(app)
    send_now(app)  # a second job finds nothing to do
    assert smtp.counts() == {"free@example.com": 1}
    message = smtp.received[0].message
    assert message["Subject"] == "Paid Reader replied in “Sourdough”"
    assert message["To"] == "Free Reader <free@example.com>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Unsubscribe"] == "<http://localhost/account#prefs-title>"
    local, _, domain = message["Reply-To"].partition("@")
    assert domain == "localhost" and local.startswith("reply+")
    payload = tokens.verify(app.extensions["kith.settings"], "reply", local.removeprefix("reply+"))
    assert payload == {"m": people["free"].id, "t": thread.id, "p": first.id}
    link = f"http://localhost/t/{thread.id}#post-{reply.id}"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert REPLY in text and link in text
    assert REPLY in html and f'href="{link}"' in html
    assert [row.sent_at is not None for row in rows(session)] == [True]


def test_a_reply_to_a_reply_names_the_top_level_post(app, session, thread, people, smtp, redis):
    first = service.create_post(session, people["free"], thread, "Starter.")
    second = service.create_post(session, people["paid"], thread, "Reply.", parent_id=first.id)
    service.create_post(session, people["invite"], thread, "Reply again.", parent_id=second.id)
    session.commit()
    send_now(app)
    tokens_by_member = {}
    for received in smtp.received:
        local = received.message["Reply-To"].partition("@")[0].removeprefix("reply+")
        tokens_by_member[received.recipients[0]] = tokens.verify(
            app.extensions["kith.settings"], "reply", local
        )
    assert {payload["p"] for payload in tokens_by_member.values()} == {first.id}
    assert set(tokens_by_member) == {"free@example.com", "paid@example.com"}


def test_a_job_killed_between_smtp_and_commit_sends_again_at_most_once(
    app, session, conversation, smtp, redis
):
    factory = app.extensions["kith.db"].session_factory

    def crash(_session):
        if smtp.received:  # the first commit after the server took the message
            raise RuntimeError("worker killed before the commit")

    event.listen(factory, "before_commit", crash)
    try:
        with app.app_context(), pytest.raises(RuntimeError, match="worker killed"):
            jobs.send_notifications()
    finally:
        event.remove(factory, "before_commit", crash)
    assert len(smtp.received) == 1  # the server took it
    assert rows(session)[0].sent_at is None  # but the claim never committed
    with app.app_context():
        assert jobs.send_notifications() == 1  # so it goes once more
        assert jobs.send_notifications() == 0  # and never again
    assert smtp.counts() == {"free@example.com": 2}
    assert rows(session)[0].sent_at is not None


def test_a_flushed_redis_loses_nothing_the_maintenance_sends_it(
    app, session, conversation, smtp, redis
):
    with app.app_context():
        assert notifications.enqueue()
    redis.flushdb()  # the queued job is gone
    run_jobs(app)
    assert smtp.received == []
    with app.app_context():
        assert jobs.resend_stale_notifications() is False  # not a minute old yet: left alone
    row = rows(session)[0]
    row.created_at = utcnow() - timedelta(minutes=2)
    session.commit()
    with app.app_context():
        assert jobs.resend_stale_notifications() is True
    assert app.extensions["kith.maintenance"].count(jobs.resend_stale_notifications) == 1
    run_jobs(app)
    assert smtp.counts() == {"free@example.com": 1}
    with app.app_context():
        assert jobs.resend_stale_notifications() is False


@pytest.mark.parametrize(
    "change",
    [
        {"email_replies": False},
        {"status": "unsubscribed"},
        {"status": "bounced"},
        {"tier": "free", "lapsed_paid_issue": True},
    ],
    ids=["replies off", "unsubscribed", "bounced", "lost access"],
)
def test_members_who_do_not_want_it_or_may_not_read_it_get_nothing(
    app, session, people, smtp, redis, change
):
    change = dict(change)
    paid_issue = change.pop("lapsed_paid_issue", False)
    issue = publish_issue(session, title="Gated", visibility="paid" if paid_issue else "members")
    thread = service.issue_thread(session, issue)
    first = service.create_post(session, people["paid"], thread, "A question.")
    service.create_post(session, people["editor"], thread, "An answer.", parent_id=first.id)
    for name, value in change.items():
        setattr(session.get(Member, people["paid"].id), name, value)
    session.commit()
    send_now(app)
    assert smtp.received == []
    assert all(row.sent_at is not None for row in rows(session))  # done: never tried again


def test_a_hidden_post_is_not_mailed(app, session, conversation, smtp, redis):
    conversation[1].status = "hidden"
    session.commit()
    send_now(app)
    assert smtp.received == []


def test_a_temporary_refusal_waits_and_a_permanent_one_is_not_retried(
    app, session, two_conversations, smtp, redis
):
    smtp.fail_for(["free@example.com"], Fault("rcpt", "451 4.3.0 try later"))
    smtp.fail_for(["invite@example.com"], Fault("rcpt", "550 5.1.1 no such user"), times=None)
    with app.app_context():
        assert jobs.send_notifications() == 0
    assert [row.sent_at is not None for row in rows(session)] == [False, True]
    with app.app_context():
        assert jobs.send_notifications() == 1
    assert smtp.counts() == {"free@example.com": 1}
    assert all(row.sent_at is not None for row in rows(session))


def test_a_connection_that_dies_on_one_message_does_not_hold_up_the_rest(
    app, session, two_conversations, smtp, redis
):
    smtp.fail_for(["free@example.com"], Fault("rcpt", drop=True))  # the line goes dead
    with app.app_context():
        assert jobs.send_notifications() == 1  # a new connection took the next one
    assert smtp.counts() == {"invite@example.com": 1}
    assert [row.sent_at is not None for row in rows(session)] == [False, True]
    with app.app_context():
        assert jobs.send_notifications() == 1
    assert smtp.counts() == {"invite@example.com": 1, "free@example.com": 1}


def test_with_the_mail_server_down_nothing_is_claimed(app, session, conversation, smtp, redis):
    smtp.down()
    with app.app_context():
        assert jobs.send_notifications() == 0
    assert rows(session)[0].sent_at is None
    smtp.up()
    with app.app_context():
        assert jobs.send_notifications() == 1


def test_an_old_notification_is_given_up_without_mail(app, session, conversation, smtp, redis):
    row = rows(session)[0]
    row.created_at = utcnow() - notifications.GIVE_UP_AFTER - timedelta(minutes=1)
    session.commit()
    with app.app_context():
        assert jobs.send_notifications() == 0
    assert smtp.received == [] and rows(session)[0].sent_at is not None


def test_two_workers_never_claim_the_same_notification(app, engine):
    """Real concurrency on PostgreSQL: while one worker holds a claim, another skips the row
    at once (SKIP LOCKED) instead of mailing it too, and after the commit it is done."""
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks between connections need PostgreSQL")
    settings = app.extensions["kith.settings"]
    with Session(engine) as setup:
        reader, writer = (
            Member(email="r@example.com", status="active"),
            Member(email="w@example.com"),
        )
        issue = Issue(slug="race", title="Race", status="published", visibility="public")
        setup.add_all([reader, writer, issue])
        setup.flush()
        thread = Thread(kind="issue", issue_id=issue.id, title="Race")
        setup.add(thread)
        setup.flush()
        post = Post(thread_id=thread.id, author_id=writer.id, body_markdown="Hi", body_html="Hi")
        setup.add(post)
        setup.flush()
        row = Notification(post_id=post.id, member_id=reader.id, kind="reply")
        setup.add(row)
        setup.commit()
        ids = (row.id, issue.id, reader.id, writer.id)
    first, second = Session(engine), Session(engine)
    try:
        assert isinstance(notifications.prepare(first, ids[0], settings=settings), Outgoing)
        assert notifications.prepare(second, ids[0], settings=settings) == TAKEN
        first.commit()
        second.rollback()
        assert notifications.prepare(second, ids[0], settings=settings) == TAKEN
    finally:
        first.close()
        second.close()
        with engine.begin() as connection:
            connection.execute(delete(Issue).where(Issue.id == ids[1]))
            connection.execute(delete(Member).where(Member.id.in_(ids[2:])))


def test_a_reply_on_the_web_is_mailed_without_waiting_for_maintenance(
    app, client, session, thread, people, smtp, redis
):
    from tests.conftest import csrf_token, sign_in

    first = service.create_post(session, people["free"], thread, "Any tips?")
    session.commit()
    sign_in(client, people["paid"])
    path = f"/t/{thread.id}"
    response = client.post(
        f"{path}/posts",
        data={"csrf_token": csrf_token(client, path), "body": REPLY, "parent_id": first.id},
    )
    assert response.status_code == 303
    run_jobs(app)  # the job the view queued, not the maintenance sweep
    assert smtp.counts() == {"free@example.com": 1}


def test_a_busy_conversation_waits_as_one_job_behind_sign_in_mail(
    app, session, thread, people, smtp, redis
):
    """Every reply asks for its notifications; one run waits at most, on its own queue, so a
    sign-in link queued after a burst of replies goes out first (the soak saw 4,604 waiting
    notification jobs on the sign-in mail's queue)."""
    first = service.create_post(session, people["free"], thread, "Who has a starter to share?")
    for number in range(12):
        service.create_post(session, people["paid"], thread, f"Me, {number}.", parent_id=first.id)
    session.commit()
    with app.app_context():
        for _ in range(12):  # each reply's view asks after its commit
            assert notifications.enqueue()
        link = members.start_login(session, people["invite"])
        session.commit()
        assert enqueue_mail(LOGIN_JOB, link.nonce)
    queues = {name: Queue(name, connection=redis, serializer=JSONSerializer) for name in
              ("mail", "notify")}  # fmt: skip
    assert (queues["mail"].count, queues["notify"].count) == (1, 1)
    run_jobs(app)
    assert "invite@example.com" in smtp.received[0].message["To"]  # the link went first
    assert smtp.counts()["free@example.com"] == 12  # each reply mailed once
    with app.app_context():
        assert notifications.enqueue()  # the run has started: a new reply gets a new run
    assert queues["notify"].count == 1
