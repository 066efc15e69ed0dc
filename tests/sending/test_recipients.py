"""A big audience is written in chunks: the first at once, the rest by a job, exactly once."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from app.issues import service as issues
from app.members.models import Member
from app.sending import recipients
from app.sending.models import Delivery, Send
from app.sending.service import start_send
from tests.conftest import make_member, run_jobs


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(recipients, "FIRST_CHUNK", 3)
    monkeypatch.setattr(recipients, "CHUNK", 4)


def test_the_first_chunk_is_written_at_once_and_a_job_writes_the_rest(
    app, session, smtp, redis, small_chunks
):
    people = [make_member(session, email=f"r{n}@example.com") for n in range(11)]
    make_member(session, email="gone@example.com", status="unsubscribed")
    issue = issues.save_issue(session, {"title": "Chunks", "body_markdown": "Hi."})
    session.commit()
    result = app.test_cli_runner().invoke(args=["send", issue.slug, "--segment", "all", "--yes"])
    assert "to 11 recipients" in result.output, result.output
    send = session.scalars(select(Send)).one()
    assert send.recipients == 11  # counted before: progress shows the whole audience
    assert session.scalar(select(func.count()).select_from(Delivery)) == 3
    make_member(session, email="late@example.com")  # signed up after the send started
    session.commit()
    run_jobs(app)
    received = Counter(rcpt for message in smtp.received for rcpt in message.recipients)
    assert received == Counter({person.email: 1 for person in people})
    session.expire_all()
    done = session.get(Send, send.id)
    assert done.status == "done" and done.recipients == 11
    assert recipients.is_complete(done)


def test_writing_the_rest_twice_adds_nobody_twice(app, session, small_chunks):
    for n in range(10):
        make_member(session, email=f"r{n}@example.com")
    issue = issues.save_issue(session, {"title": "Twice", "body_markdown": "Hi."})
    send = start_send(session, issue, "all")
    stale_copy = (send.audience_through, send.audience_until)
    while not recipients.add_chunk(session, send):
        pass
    send.audience_through, send.audience_until = stale_copy  # a second job from the start
    while not recipients.add_chunk(session, send):
        pass
    rows = session.scalars(select(Delivery.member_id)).all()
    assert len(rows) == len(set(rows)) == 10 == send.recipients
    assert set(rows) == set(session.scalars(select(Member.id)))
