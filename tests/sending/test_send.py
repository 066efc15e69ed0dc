"""Sending an issue through real RQ jobs to a real SMTP server: each recipient exactly once."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.db import utcnow
from app.issues import service as issues
from app.members import segments, tokens
from app.members.models import Member
from app.sending import ledger, service
from app.sending.jobs import enqueue_send, reconcile
from app.sending.models import Delivery, Send
from app.sending.pacing import Pacer
from app.sending.service import start_send
from tests.conftest import make_member, run_jobs
from tests.smtp_sink import Fault


def database_of(app):
    return app.extensions["kith.db"]


SECRET = "Only paying members may read this sentence."


@pytest.fixture
def issue(session):
    issue = issues.save_issue(
        session,
        {
            "title": "Hydration notes",
            "excerpt": "Water matters.",
            "body_markdown": "## Water\n\nUse 75 %.",
        },
    )
    session.commit()
    return issue


@pytest.fixture
def audience(session):
    people = {
        "ann": make_member(session, email="ann@example.com", name="Ann", tier="paid"),
        "bob": make_member(session, email="bob@example.com"),
        "cy": make_member(session, email="cy@example.com"),
        "gone": make_member(session, email="gone@example.com", status="unsubscribed"),
        "new": make_member(session, email="new@example.com", status="pending"),
        "quiet": make_member(session, email="quiet@example.com", email_issues=False),
    }
    return people


def send(app, slug: str, expression: str = "all"):
    return app.test_cli_runner().invoke(args=["send", slug, "--segment", expression, "--yes"])


def received(smtp) -> Counter:
    return Counter(rcpt for message in smtp.received for rcpt in message.recipients)


def test_every_reachable_member_gets_one_copy_with_the_bulk_headers(
    app, session, issue, audience, smtp, redis
):
    result = send(app, issue.slug)
    assert result.exit_code == 0, result.output
    assert "to 3 recipients now" in result.output
    run_jobs(app)
    assert received(smtp) == Counter(
        {"ann@example.com": 1, "bob@example.com": 1, "cy@example.com": 1}
    )
    message = next(m for m in smtp.received if m.recipients == ["ann@example.com"])
    parsed = message.message
    settings = app.extensions["kith.settings"]
    assert parsed["Subject"] == "Hydration notes" and parsed["To"] == "Ann <ann@example.com>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert (
        b"\r\nList-Unsubscribe: <http://localhost/unsubscribe/" in message.data
    )  # as sent, unencoded
    https, mailto = (part.strip().strip("<>") for part in parsed["List-Unsubscribe"].split(","))
    unsubscribe = https
    assert unsubscribe.startswith("http://localhost/unsubscribe/")
    token = unsubscribe.rpartition("/")[2]
    assert mailto == f"mailto:unsubscribe+{token}@localhost"  # RFC 2369: https and mailto
    reply = parsed["Reply-To"].removeprefix("reply+").split("@")[0]
    assert tokens.verify(settings, "reply", reply) == {"m": audience["ann"].id, "i": issue.id}
    assert message.sender.startswith("bounce+") and message.sender.endswith("@localhost")
    assert len({m.message["Message-ID"] for m in smtp.received}) == 3
    text = parsed.get_body(("plain",)).get_content()
    assert "Use 75 %." in text and unsubscribe in text
    assert "Use 75 %" in parsed.get_body(("html",)).get_content()
    status = app.test_cli_runner().invoke(args=["send-status", issue.slug]).output
    assert "[done] 3 recipients: sent 3, pending 0, failed 0" in status


def test_sending_again_reaches_nobody_twice(app, session, issue, audience, smtp, redis):
    send(app, issue.slug)
    run_jobs(app)
    again = send(app, issue.slug, "tier:paid OR all")
    assert "to 0 recipients" in again.output
    run_jobs(app)
    assert max(received(smtp).values()) == 1


def test_a_member_who_unsubscribes_during_a_send_is_not_mailed(
    app, session, issue, audience, smtp, redis
):
    send(app, issue.slug)
    member = session.get(Member, audience["bob"].id)
    member.status = "unsubscribed"
    session.commit()
    run_jobs(app)
    assert "bob@example.com" not in received(smtp)
    states = dict(session.execute(select(Delivery.member_id, Delivery.status)).all())
    assert states[audience["bob"].id] == "skipped"


def test_a_refused_mailbox_bounces_and_the_batch_goes_on(
    app, session, issue, audience, smtp, redis
):
    smtp.inject(Fault("rcpt", "550 5.1.1 no such user"))
    send(app, issue.slug)
    run_jobs(app)
    assert sum(received(smtp).values()) == 2
    [bounced] = session.scalars(select(Delivery).where(Delivery.status == "bounced")).all()
    assert "550 5.1.1" in bounced.error
    session.expire_all()
    assert session.get(Member, bounced.member_id).status == "bounced"  # never mailed again


def test_a_refusal_that_is_not_about_the_mailbox_fails_without_suppressing(
    app, session, issue, audience, smtp, redis
):
    smtp.inject(Fault("data", "554 5.7.1 message refused as spam"))
    send(app, issue.slug)
    run_jobs(app)
    [failed] = session.scalars(select(Delivery).where(Delivery.status == "failed")).all()
    assert "554" in failed.error and failed.attempts == 1
    session.expire_all()
    assert session.get(Member, failed.member_id).status == "active"


def make_due(session) -> None:
    """Let rows waiting out a backoff be tried now."""
    session.execute(update(Delivery).values(next_attempt_at=None))
    session.commit()


def test_a_temporary_refusal_is_tried_again_after_a_backoff(
    app, session, issue, audience, smtp, redis
):
    smtp.inject(Fault("rcpt", "451 4.3.0 try again later"))
    result = send(app, issue.slug)
    run_jobs(app)
    [waiting] = session.scalars(select(Delivery).where(Delivery.status == "queued")).all()
    assert waiting.attempts == 1 and "451" in waiting.error
    assert waiting.next_attempt_at > utcnow() + timedelta(seconds=20)  # 30 s, then doubling
    assert redis.zcard("rq:scheduled:send") >= 1  # a job waits for it
    make_due(session)
    send_id = session.scalar(select(Delivery.send_id))
    with app.app_context():
        enqueue_send(send_id)
    run_jobs(app)
    assert result.exit_code == 0
    assert received(smtp) == Counter(
        {"ann@example.com": 1, "bob@example.com": 1, "cy@example.com": 1}
    )
    session.expire_all()
    assert session.get(Delivery, waiting.id).attempts == 2


def test_gated_issues_go_in_full_only_to_readers_with_access(app, session, audience, smtp, redis):
    paid = issues.save_issue(
        session,
        {"title": "Paid", "visibility": "paid", "excerpt": "For members.",
         "body_markdown": f"Free part.\n\n<!-- more -->\n\n{SECRET}"},
    )  # fmt: skip
    editor = make_member(session, email="editor2@example.com", role="editor")
    session.commit()
    send(app, paid.slug)
    run_jobs(app)
    bodies = {m.recipients[0]: m.message.get_body(("plain",)).get_content() for m in smtp.received}
    assert SECRET in bodies[editor.email]
    assert SECRET not in bodies["bob@example.com"] and "Free part." in bodies["bob@example.com"]
    assert "Read the whole issue on the web" in bodies["bob@example.com"]


def test_a_bad_segment_is_a_one_line_error_and_nothing_is_sent(app, session, issue, audience):
    result = send(app, issue.slug, "tier:gold")
    assert result.exit_code == 1 and "unknown tier 'gold'" in result.output
    assert session.scalar(select(Delivery.id)) is None
    assert "no issue with the slug" in send(app, "nope").output


def test_without_yes_it_asks_and_stops_on_no(app, session, issue, audience):
    result = app.test_cli_runner().invoke(
        args=["send", issue.slug, "--segment", "all"], input="n\n"
    )
    assert result.exit_code == 1 and "not sent" in result.output
    assert session.scalar(select(Delivery.id)) is None


def test_sending_publishes_the_issue_unless_it_is_email_only(session, issue, audience):
    start_send(session, issue, "all")
    assert issue.is_published
    mail_only = issues.save_issue(session, {"title": "Letter", "email_only": True})
    start_send(session, mail_only, "all")
    assert not mail_only.is_published


def test_recipients_match_the_segment_count(session, issue, audience):
    send_row = start_send(session, issue, "tier:paid OR tag:none")
    assert (
        send_row.recipients
        == segments.count(session, "tier:paid OR tag:none", recipients=True)
        == 1
    )
    assert send_row.scheduled_at <= utcnow()


@pytest.mark.parametrize("app_overrides", [{"smtp_url": "smtp://127.0.0.1:1?timeout=1"}])
def test_an_unreachable_server_gives_the_batch_back_for_later(app, session, issue, audience, redis):
    send(app, issue.slug)
    run_jobs(app)
    rows = session.scalars(select(Delivery)).all()
    assert {row.status for row in rows} == {"queued"} and {row.attempts for row in rows} == {0}
    # Tried again in 30 s by the worker's scheduler: one retry per job that ran, not a storm.
    assert 1 <= redis.zcard("rq:scheduled:send") <= 2


def test_a_line_that_breaks_after_the_message_resends_it_once_then_calls_it_uncertain(
    app, session, issue, audience, smtp, redis
):
    smtp.inject(Fault("data", drop=True))
    send(app, issue.slug)
    run_jobs(app)
    states = Counter(session.scalars(select(Delivery.status)).all())
    assert states == Counter({"sent": 2, "queued": 1})  # the rest went out on a new connection
    [doubt] = session.scalars(select(Delivery).where(Delivery.status == "queued")).all()
    assert doubt.resent_after_doubt and "closed" in doubt.error.lower()
    smtp.inject(Fault("data", drop=True))  # the one resend breaks the same way
    make_due(session)
    with app.app_context():
        enqueue_send(doubt.send_id)
    run_jobs(app)
    session.expire_all()
    assert session.get(Delivery, doubt.id).status == "uncertain"  # final: never a third try
    assert max(received(smtp).values()) == 1 and sum(received(smtp).values()) == 2


def test_after_a_crash_and_a_flushed_redis_the_reconciler_finishes_the_send(
    app, session, issue, audience, smtp, redis
):
    """A worker died with a batch claimed and one message on the wire; then Redis lost every job."""
    send(app, issue.slug)
    rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
    long_ago = utcnow() - timedelta(minutes=10)
    rows[0].status, rows[0].claimed_at, rows[0].attempts = "sending", long_ago, 1
    for row in rows[1:]:
        row.status, row.claimed_at, row.attempts = "claimed", long_ago, 1
    session.commit()
    redis.flushdb()
    with app.app_context():
        assert reconcile() == 1  # the worker's maintenance runs this too
    run_jobs(app)
    states = Counter(session.scalars(select(Delivery.status)).all())
    assert states == Counter({"sent": 3})
    # The one on the wire was sent once more: it may have arrived before (at most one copy
    # too many per killed worker); here it had not.
    session.expire_all()
    assert session.get(Delivery, rows[0].id).resent_after_doubt
    assert sum(received(smtp).values()) == 3 and max(received(smtp).values()) == 1


@pytest.mark.parametrize("app_overrides", [{"smtp_url": "smtp://127.0.0.1:1?timeout=1"}])
def test_a_server_down_for_long_pauses_the_send_and_it_resumes_by_itself(
    app, session, issue, audience, redis
):
    """A circuit breaker (F8): no storm of retries, a reason for the editor, an automatic try."""
    send(app, issue.slug)
    send_id = session.scalar(select(Delivery.send_id))
    for _ in range(ledger.BREAKER_FAILURES):
        with app.app_context():
            enqueue_send(send_id)
        run_jobs(app)
    session.expire_all()
    paused = session.get(Send, send_id)
    assert paused.status == "paused" and "could not be reached" in paused.paused_reason
    assert paused.resume_at > utcnow()
    assert {row.attempts for row in session.scalars(select(Delivery))} == {0}  # none burned
    with app.app_context():
        assert reconcile() == 0  # not before its time
    session.execute(update(Send).values(resume_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    with app.app_context():
        assert reconcile() == 1
    session.expire_all()
    assert session.get(Send, send_id).status == "sending"


def test_a_send_idle_for_a_day_waits_for_the_editor_instead_of_resuming(
    app, session, issue, audience, redis
):
    """F4: after a long outage old news is not sent by itself."""
    send(app, issue.slug)
    two_days_ago = utcnow() - timedelta(days=2)
    session.execute(update(Send).values(started_at=two_days_ago))
    session.commit()
    with app.app_context():
        assert reconcile() == 0
    session.expire_all()
    stalled = session.scalars(select(Send)).one()
    assert stalled.status == "paused" and "resume or cancel" in stalled.paused_reason


def test_a_claim_given_away_by_the_reconciler_is_never_sent_by_its_first_owner(
    app, session, issue, audience
):
    """A worker slower than the lease must not send rows someone else now owns."""
    send(app, issue.slug)
    send_id = session.scalar(select(Delivery.send_id))
    claim = service.claim_batch(session, send_id)
    session.commit()
    first = claim.rows[0][0]
    session.execute(
        update(Delivery).where(Delivery.id == first).values(claimed_at=utcnow())
    )  # reclaimed by another worker: a new stamp
    session.commit()
    with database_of(app).held() as connection:
        steps = ledger.Steps(connection, claim.claimed_at)
        assert steps.step(sent=None, begin=first) is False
        assert steps.step(sent=None, begin=claim.rows[1][0]) is True
    session.expire_all()
    assert session.get(Delivery, first).status == "claimed"


def test_sending_is_paced_to_the_configured_rate_across_workers(redis):
    pacer = Pacer(redis, rate=2, key="test:25")
    other_worker = Pacer(redis, rate=2, key="test:25")
    started = time.time()
    window = int(started)
    pacer.wait()
    other_worker.wait()
    if int(time.time()) == window:  # both fit in the window they started in
        pacer.wait()  # the third must wait for the next second
        assert time.time() >= window + 1
