"""``kith send-status`` and ``kith send-control``: the same snapshot and controls as the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import select, update

from app.db import utcnow
from app.issues import service as issues
from app.sending.commands import send_control_command
from app.sending.models import Delivery, Send
from app.sending.service import start_send
from tests.conftest import make_member


@pytest.fixture
def issue(session):
    issue = issues.save_issue(session, {"title": "Proofing", "body_markdown": "Cold and slow."})
    for _ in range(3):
        make_member(session)
    session.commit()
    return issue


@pytest.fixture
def send(session, issue) -> Send:
    send = start_send(session, issue, "all")
    session.commit()
    return send


def status(app, slug: str):
    return app.test_cli_runner().invoke(args=["send-status", slug])


def control(app, *args: str):
    # Until cli.py registers it as ``kith send-control``, run the command object itself.
    return app.test_cli_runner().invoke(send_control_command, [str(arg) for arg in args])


def state(session, send: Send) -> str:
    session.expire_all()
    return session.get(Send, send.id).status


def test_status_before_any_send(app, issue):
    result = status(app, issue.slug)
    assert result.exit_code == 0 and result.output == "not sent yet\n"


def test_status_of_an_unknown_issue_is_a_clear_error(app):
    result = status(app, "no-such-issue")
    assert result.exit_code == 1 and "no issue with the slug 'no-such-issue'" in result.output


def test_status_prints_counts_rate_time_left_and_why_it_paused(app, session, issue, send):
    first = session.scalars(select(Delivery.id).where(Delivery.send_id == send.id)).first()
    session.execute(
        update(Delivery)
        .where(Delivery.id == first)
        .values(status="sent", sent_at=utcnow() - timedelta(seconds=5))
    )
    session.commit()
    assert control(app, send.id, "pause").exit_code == 0
    lines = status(app, issue.slug).output.splitlines()
    assert lines[0] == (
        f"send #{send.id} [paused] 3 recipients: sent 1, pending 2, failed 0, bounced 0, "
        "skipped 0, uncertain 0 (segment: all)"
    )
    assert lines[1].startswith("  33% done; rate: ") and lines[1].endswith("time left: unknown")
    assert "  paused: Paused by the command line" in lines


def test_status_says_when_a_scheduled_send_starts(app, session, issue):
    at = (utcnow() + timedelta(days=1)).replace(second=0, microsecond=0)
    start_send(session, issue, "all", at=at)
    session.commit()
    output = status(app, issue.slug).output
    assert "[scheduled] 3 recipients" in output
    assert f"  scheduled for: {at:%Y-%m-%d %H:%M} UTC" in output


def test_control_pauses_resumes_and_cancels(app, session, send, redis):
    paused = control(app, send.id, "pause")
    assert paused.exit_code == 0, paused.output
    assert paused.output == f"send #{send.id} paused after the batch in flight\n"
    again = control(app, send.id, "pause")
    assert again.exit_code == 0 and again.output == f"Send #{send.id} is already paused.\n"

    resumed = control(app, send.id, "resume")
    assert resumed.exit_code == 0 and state(session, send) == "sending"
    assert Queue("send", connection=redis, serializer=JSONSerializer).count == 1

    cancelled = control(app, send.id, "cancel")
    assert cancelled.exit_code == 0 and state(session, send) == "cancelled"
    rows = session.scalars(select(Delivery.status).where(Delivery.send_id == send.id)).all()
    assert rows == ["skipped"] * 3
    late = control(app, send.id, "resume")
    assert late.exit_code == 1
    assert f"Send #{send.id} is cancelled: it cannot be resumed now." in late.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("999999", "pause"), "no send #999999"),
        (("1", "explode"), "'explode' is not one of 'cancel', 'pause', 'resume'"),
        (("one", "pause"), "'one' is not a valid integer"),
    ],
)
def test_control_refuses_bad_input(app, args, message):
    result = control(app, *args)
    assert result.exit_code != 0 and message in result.output


@pytest.mark.parametrize("app_overrides", [{"redis_url": "redis://127.0.0.1:1/0"}])
def test_resume_without_the_queue_changes_nothing(app, session, send):
    control(app, send.id, "pause")
    result = control(app, send.id, "resume")
    assert (
        result.exit_code == 1 and "the job queue is unavailable; nothing changed" in result.output
    )
    assert state(session, send) == "paused"
