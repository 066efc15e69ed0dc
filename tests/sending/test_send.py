"""Sending an issue through real RQ jobs to a real SMTP server: each recipient exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.db import utcnow
from app.issues import service as issues
from app.members import segments, tokens
from app.members.models import Member
from app.sending.jobs import reconcile
from app.sending.models import Delivery
from app.sending.service import start_send
from tests.conftest import make_member, run_jobs
from tests.smtp_sink import Fault

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
    unsubscribe = parsed["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("http://localhost/unsubscribe/")
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


def test_a_refused_recipient_fails_and_the_batch_goes_on(
    app, session, issue, audience, smtp, redis
):
    smtp.inject(Fault("rcpt", "550 5.1.1 no such user"))
    send(app, issue.slug)
    run_jobs(app)
    assert sum(received(smtp).values()) == 2
    failed = session.scalars(select(Delivery).where(Delivery.status == "failed")).all()
    assert len(failed) == 1 and "550" in failed[0].error


def test_a_temporary_refusal_is_tried_again(app, session, issue, audience, smtp, redis):
    smtp.inject(Fault("rcpt", "451 4.3.0 try again later"))
    send(app, issue.slug)
    run_jobs(app)
    assert received(smtp) == Counter(
        {"ann@example.com": 1, "bob@example.com": 1, "cy@example.com": 1}
    )


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


def test_a_line_that_breaks_mid_message_leaves_that_one_uncertain(
    app, session, issue, audience, smtp, redis
):
    smtp.inject(Fault("data", drop=True))
    send(app, issue.slug)
    run_jobs(app)
    states = Counter(session.scalars(select(Delivery.status)).all())
    assert states == Counter({"uncertain": 1, "sent": 2})  # the rest went out on a new connection
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
    assert states == Counter({"sent": 2, "uncertain": 1})
    assert sum(received(smtp).values()) == 2 and max(received(smtp).values()) == 1
