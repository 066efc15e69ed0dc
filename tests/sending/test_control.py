"""Pausing, resuming, cancelling and rescheduling sends, and counting how far they got."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.db import utcnow
from app.issues import service as issues
from app.sending import control
from app.sending.models import Delivery, Send
from app.sending.service import start_send
from tests.conftest import counted_statements, make_member


@pytest.fixture
def issue(session):
    issue = issues.save_issue(session, {"title": "Crumb notes", "body_markdown": "Open crumb."})
    session.commit()
    return issue


def started(session, issue, members: int = 5, **options) -> Send:
    for _ in range(members):
        make_member(session)
    send = start_send(session, issue, "all", **options)
    session.commit()
    return send


def rows(session, send: Send) -> list[Delivery]:
    return list(
        session.scalars(select(Delivery).where(Delivery.send_id == send.id).order_by(Delivery.id))
    )


def set_status(session, delivery_ids: list[int], status: str, **values) -> None:
    session.execute(
        update(Delivery).where(Delivery.id.in_(delivery_ids)).values(status=status, **values)
    )
    session.commit()


def reload(session, send: Send) -> Send:
    session.expire_all()
    return session.get(Send, send.id)


def test_pause_and_resume_move_once_each(session, issue):
    send = started(session, issue)
    assert control.pause(session, send.id, "ed@example.com") is True
    assert control.pause(session, send.id, "ed@example.com") is False
    paused = reload(session, send)
    assert (paused.status, paused.paused_reason) == ("paused", "Paused by ed@example.com")
    assert control.resume(session, send.id) is True
    assert control.resume(session, send.id) is False
    assert (reload(session, send).status, reload(session, send).paused_reason) == ("sending", "")


def test_resume_clears_the_circuit_breakers_state(session, issue):
    send = started(session, issue)
    session.execute(
        update(Send)
        .where(Send.id == send.id)
        .values(
            status="paused",
            paused_reason="the mail server could not be reached (3 tries)",
            resume_at=utcnow() + timedelta(minutes=5),
            connection_failures=3,
        )
    )
    assert control.resume(session, send.id) is True
    resumed = reload(session, send)
    assert (resumed.status, resumed.paused_reason, resumed.resume_at) == ("sending", "", None)
    assert resumed.connection_failures == 0


def test_pausing_a_send_the_breaker_paused_holds_it_for_the_editor(session, issue):
    send = started(session, issue)
    retry = utcnow() + timedelta(minutes=5)
    session.execute(
        update(Send)
        .where(Send.id == send.id)
        .values(
            status="paused", paused_reason="the mail server could not be reached", resume_at=retry
        )
    )
    assert control.pause(session, send.id, "ed@example.com") is True
    held = reload(session, send)
    assert (held.status, held.resume_at, held.paused_reason) == (
        "paused",
        None,
        "Paused by ed@example.com",
    )
    assert control.pause(session, send.id, "ed@example.com") is False


def test_cancel_skips_queued_rows_and_leaves_the_others_as_they_are(session, issue):
    send = started(session, issue, members=6)
    ids = [row.id for row in rows(session, send)]
    set_status(session, ids[:1], "sent", sent_at=utcnow())
    set_status(session, ids[1:2], "claimed", claimed_at=utcnow())
    set_status(session, ids[2:3], "sending", claimed_at=utcnow())
    set_status(session, ids[3:4], "failed", error="550 no such user")
    assert control.cancel(session, send.id) is True
    assert control.cancel(session, send.id) is False
    cancelled = reload(session, send)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    after = {row.id: (row.status, row.error) for row in rows(session, send)}
    assert [after[i][0] for i in ids[:4]] == ["sent", "claimed", "sending", "failed"]
    assert [after[i] for i in ids[4:]] == [("skipped", "send cancelled")] * 2


def test_cancelling_again_sweeps_rows_a_worker_gave_back(session, issue):
    send = started(session, issue, members=2)
    first, second = (row.id for row in rows(session, send))
    set_status(session, [first], "claimed", claimed_at=utcnow())
    control.cancel(session, send.id)
    set_status(session, [first], "queued")  # the worker's connection failed: it released it
    assert control.cancel(session, send.id) is True
    assert {row.status for row in rows(session, send)} == {"skipped"}


def test_a_scheduled_send_can_be_moved_or_cancelled_before_it_starts(session, issue):
    later = utcnow() + timedelta(hours=2)
    send = started(session, issue, at=later)
    assert reload(session, send).status == "scheduled"
    assert control.pause(session, send.id, "ed@example.com") is False  # nothing to pause yet
    assert control.reschedule(session, send.id, later + timedelta(days=1)) is True
    assert reload(session, send).scheduled_at == later + timedelta(days=1)
    assert control.cancel(session, send.id) is True
    assert control.reschedule(session, send.id, later) is False
    assert {row.status for row in rows(session, send)} == {"skipped"}


@pytest.mark.parametrize(
    ("status", "action", "reason"),
    [
        ("done", "cancel", "Send #{id} is done: it cannot be cancelled now."),
        ("done", "pause", "Send #{id} is done: it cannot be paused now."),
        ("cancelled", "resume", "Send #{id} is cancelled: it cannot be resumed now."),
        ("cancelled", "cancel", "Send #{id} is already cancelled."),
        ("sending", "resume", "Send #{id} is already sending."),
        ("sending", "reschedule", "Send #{id} is sending: it cannot be moved now."),
    ],
)
def test_finished_sends_change_no_more_and_say_why(session, issue, status, action, reason):
    send = started(session, issue, members=1)
    session.execute(update(Send).where(Send.id == send.id).values(status=status))
    set_status(session, [rows(session, send)[0].id], "sent", sent_at=utcnow())
    moves = {
        "cancel": lambda: control.cancel(session, send.id),
        "pause": lambda: control.pause(session, send.id, "ed@example.com"),
        "resume": lambda: control.resume(session, send.id),
        "reschedule": lambda: control.reschedule(session, send.id, utcnow()),
    }
    assert moves[action]() is False
    send = reload(session, send)
    assert send.status == status
    assert control.unchanged_reason(send, action) == reason.format(id=send.id)


def test_snapshot_counts_states_and_measures_the_last_minute(session, issue):
    send = started(session, issue, members=10)
    now = utcnow()
    ids = [row.id for row in rows(session, send)]
    set_status(session, ids[:1], "sent", sent_at=now - timedelta(minutes=2))  # outside the window
    for offset, delivery_id in zip((20, 15, 10, 5), ids[1:5], strict=True):
        set_status(session, [delivery_id], "sent", sent_at=now - timedelta(seconds=offset))
    for delivery_id, status in zip(
        ids[5:9], ("failed", "bounced", "skipped", "uncertain"), strict=True
    ):
        set_status(session, [delivery_id], status)
    set_status(session, ids[9:], "claimed", claimed_at=now)

    progress = control.snapshot(session, reload(session, send), now=now)
    assert (progress.sent, progress.failed, progress.bounced) == (5, 1, 1)
    assert (progress.skipped, progress.uncertain, progress.pending) == (1, 1, 1)
    assert progress.total == 10 and progress.percent == 90
    assert progress.rate == pytest.approx(4 / 20)  # four in the 20 s since the first of them
    assert progress.seconds_left == pytest.approx(5)
    shown = progress.display()
    assert shown["summary"] == "Sent 5 of 10" and shown["rate"] == "0.2 messages/s"
    assert shown["time_left"] == "less than a minute" and shown["status"] == "Sending"
    assert progress.actions == ("pause", "cancel") and progress.live


def test_snapshot_costs_two_queries_whatever_the_size(session, issue):
    send = started(session, issue, members=30)
    with counted_statements(session) as statements:
        control.snapshot(session, send)
    assert len(statements) == 2


def test_time_left_is_unknown_unless_the_send_is_moving(session, issue):
    send = started(session, issue, members=3)
    progress = control.snapshot(session, send)
    assert progress.rate == 0 and progress.seconds_left is None
    assert progress.display()["rate"] == "none in the last minute"
    assert progress.display()["time_left"] == "unknown"
    now = utcnow()
    set_status(session, [rows(session, send)[0].id], "sent", sent_at=now - timedelta(seconds=2))
    control.pause(session, send.id, "ed@example.com")
    paused = control.snapshot(session, reload(session, send), now=now)
    assert paused.rate > 0 and paused.seconds_left is None  # paused: it is not getting closer
    assert paused.display()["paused_reason"] == "Paused by ed@example.com"
    assert paused.actions == ("resume", "cancel") and not paused.live


def test_a_finished_send_shows_everything_done(session, issue):
    send = started(session, issue, members=2)
    set_status(session, [row.id for row in rows(session, send)], "sent", sent_at=utcnow())
    session.execute(
        update(Send).where(Send.id == send.id).values(status="done", finished_at=utcnow())
    )
    progress = control.snapshot(session, reload(session, send))
    assert (progress.percent, progress.seconds_left, progress.actions) == (100, 0, ())
    assert progress.display()["time_left"] == "none" and not progress.live
    data = progress.as_json()
    assert data["counts"] == {
        "pending": 0, "sent": 2, "failed": 0, "bounced": 0, "skipped": 0, "uncertain": 0,
    }  # fmt: skip
    assert (
        data["status"] == "done"
        and data["finished_at"]
        and data["display"]["summary"] == "Sent 2 of 2"
    )


def test_snapshots_cover_every_send_of_the_issue_oldest_first(session, issue):
    first = started(session, issue, members=2)
    second = start_send(session, issue, "all")  # everyone has a copy already: nobody
    session.commit()
    progress = control.snapshots(session, issue)
    assert [p.send_id for p in progress] == [first.id, second.id]
    assert [p.total for p in progress] == [2, 0]
    assert progress[1].percent == 100


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "unknown"), (0, "none"), (59, "less than a minute"), (90, "about 2 minutes"),
     (3600, "about 60 minutes"), (5 * 3600, "about 5 hours")],
)  # fmt: skip
def test_time_left_reads_as_words(seconds, text):
    assert control.duration_text(seconds) == text
