"""The daily digest: only posts the member may read (a paid thread's words never reach a free
member), public and visible ones only, at most once a day, and no email when nothing is new."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from app.db import utcnow
from app.discussions import digest, jobs, service
from app.members.models import Member
from tests.conftest import make_member
from tests.discussions.conftest import publish_issue, topic

SECRETS = {
    "paid board": "Paid board canary: the starter wants rye at thirty percent.",
    "paid issue": "Paid issue canary: autolyse for exactly forty minutes.",
    "private": "Private canary: only the editor should ever read this.",
    "hidden": "Hidden canary: a moderator took this down.",
    "hidden thread": "Hidden thread canary: nobody but editors.",
}
OPEN = {
    "members board": "Members board news: the swap meet is on Sunday.",
    "issue thread": "Issue thread chatter: my crumb came out gummy.",
}


@pytest.fixture
def readers(session, people):
    for who in ("free", "paid"):
        session.get(Member, people[who].id).email_digest = True
    session.commit()
    return people


@pytest.fixture
def activity(session, readers, boards, thread):
    """Posts everywhere, by the editor and the invited member (whose digest is off)."""
    editor, invite = readers["editor"], readers["invite"]
    paid_issue = publish_issue(session, title="Paid bake", visibility="paid")
    hidden_topic = topic(session, boards["members"], editor, "Hidden topic")
    hidden_topic.hidden = True
    places = {
        "paid board": topic(session, boards["paid"], editor, "Rye talk"),
        "paid issue": service.issue_thread(session, paid_issue),
        "members board": topic(session, boards["members"], editor, "Swap meet"),
        "issue thread": thread,
        "hidden thread": hidden_topic,
    }
    for name, place in places.items():
        service.create_post(session, editor, place, SECRETS.get(name) or OPEN[name])
    service.create_post(session, invite, thread, SECRETS["private"], private=True)
    hidden = service.create_post(session, invite, thread, SECRETS["hidden"])
    hidden.status = "hidden"
    session.commit()
    return places


def digests(smtp) -> dict[str, str]:
    by_reader = defaultdict(str)
    for received in smtp.received:
        message = received.message
        by_reader[received.recipients[0]] += (
            message.get_body(("plain",)).get_content() + message.get_body(("html",)).get_content()
        )
    return dict(by_reader)


def run(app, *args):
    result = app.test_cli_runner().invoke(args=["digest", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_each_member_gets_only_what_they_may_read(app, session, activity, smtp):
    output = run(app)
    assert "digest: 2 sent, 0 with nothing new" in output
    got = digests(smtp)
    assert set(got) == {"free@example.com", "paid@example.com"}  # invite: digest off
    for secret in ("private", "hidden", "hidden thread"):
        assert not any(SECRETS[secret] in text for text in got.values()), secret
    for secret in ("paid board", "paid issue"):
        assert SECRETS[secret] not in got["free@example.com"], secret
        assert SECRETS[secret] in got["paid@example.com"], secret
    for words in OPEN.values():
        assert all(words in text for text in got.values())
    thread = activity["members board"]
    assert f"http://localhost/t/{thread.id}" in got["free@example.com"]
    message = smtp.received[0].message
    assert message["Subject"].startswith("The Test Letter: ")
    assert message["List-Unsubscribe"] == "<http://localhost/account#prefs-title>"


def test_at_most_once_a_day(app, session, activity, smtp):
    run(app)
    assert "digest: 0 sent, 0 with nothing new" in run(app)
    assert len(smtp.received) == 2
    later = utcnow() + timedelta(hours=25)
    with app.app_context():
        tally, more = jobs.run_digests(now=later)
    assert (tally.sent, tally.nothing, more) == (0, 2, False)  # a day on, nothing new: no mail
    assert len(smtp.received) == 2


def test_tomorrow_brings_only_what_is_new(app, session, readers, thread, smtp):
    editor = readers["editor"]
    service.create_post(session, editor, thread, "Yesterday's news.")
    session.commit()
    run(app)
    tomorrow = utcnow() + timedelta(hours=25)
    service.create_post(session, editor, thread, "Today's news.", now=tomorrow - timedelta(hours=1))
    session.commit()
    with app.app_context():
        tally, _ = jobs.run_digests(now=tomorrow)
    assert tally.sent == 2
    latest = smtp.received[-1].message.get_body(("plain",)).get_content()
    assert "Today's news." in latest and "Yesterday's news." not in latest


def test_nothing_new_means_no_email_but_the_day_is_claimed(app, session, readers, smtp):
    assert "digest: 0 sent, 2 with nothing new" in run(app)
    assert smtp.received == []
    session.expire_all()
    assert session.get(Member, readers["free"].id).last_digest_at is not None


def test_members_who_take_no_mail_get_no_digest(app, session, activity, smtp):
    make_member(session, email="gone@example.com", status="unsubscribed", email_digest=True)
    make_member(session, email="new@example.com", status="pending", email_digest=True)
    run(app)
    assert set(digests(smtp)) == {"free@example.com", "paid@example.com"}


def test_a_dry_run_says_who_and_sends_and_claims_nothing(app, session, activity, smtp):
    output = run(app, "--dry-run")
    assert "free@example.com: 2 new posts in 2 threads" in output
    assert "paid@example.com: 4 new posts in 4 threads" in output
    assert "digest (dry run): 2 would get a digest, 0 have nothing new" in output
    assert smtp.received == []
    session.expire_all()
    waiting = session.query(Member).filter_by(email_digest=True).all()
    assert len(waiting) == 2 and all(member.last_digest_at is None for member in waiting)


def test_a_digest_claimed_once_cannot_be_claimed_again(session, readers):
    now = utcnow()
    assert digest.claim(session, readers["free"].id, now) is not None
    assert digest.claim(session, readers["free"].id, now) is None
    assert digest.claim(session, readers["invite"].id, now) is None  # digest off


def test_the_maintenance_queues_a_digest_job_only_when_one_is_due(app, session, readers, redis):
    with app.app_context():
        assert jobs.queue_due_digests() is True
    assert jobs.queue_due_digests in app.extensions["kith.maintenance"]
    for who in ("free", "paid"):
        session.get(Member, readers[who].id).last_digest_at = utcnow()
    session.commit()
    with app.app_context():
        assert jobs.queue_due_digests() is False


def test_excerpts_are_plain_one_line_text_cut_at_a_word():
    assert digest.excerpt("<p>Tom &amp; <b>Jerry</b></p>\n<p>again</p>") == "Tom & Jerry again"
    cut = digest.excerpt("<p>" + "word " * 100 + "</p>", limit=22)
    assert cut == "word word word word…"


def test_two_workers_at_once_send_one_digest(engine):
    """Real concurrency on PostgreSQL: the second claim waits for the first, then finds the
    digest taken. (SQLite serializes writers with BEGIN IMMEDIATE instead.)"""
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks between connections need PostgreSQL")
    with engine.begin() as connection:
        member_id = connection.execute(
            insert(Member)
            .values(email="race@example.com", status="active", email_digest=True)
            .returning(Member.id)
        ).scalar_one()
    first, second, outcome = Session(engine), Session(engine), {}
    try:
        now = utcnow()
        assert digest.claim(first, member_id, now) is not None  # holds the row until commit
        racer = threading.Thread(
            target=lambda: outcome.update(second=digest.claim(second, member_id, now))
        )
        racer.start()
        racer.join(0.5)
        assert racer.is_alive()  # waiting on the first worker's claim
        first.commit()
        racer.join(5)
        assert outcome == {"second": None}
    finally:
        first.close()
        second.close()
        with engine.begin() as connection:
            connection.execute(delete(Member).where(Member.id == member_id))
