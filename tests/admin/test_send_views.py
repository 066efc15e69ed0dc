"""The send dialog without JavaScript, and the progress page, JSON and buttons of a send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import func, select, update

from app.db import utcnow
from app.issues import service as issues
from app.members import audience
from app.sending.models import Delivery, Send
from tests.conftest import csrf_token, make_member, sign_in

DEAD_QUEUE = {"redis_url": "redis://127.0.0.1:1/0"}


@pytest.fixture
def issue(session):
    issue = issues.save_issue(session, {"title": "Rye notes", "body_markdown": "Rye loves water."})
    for name in ("ann", "bob"):
        make_member(session, email=f"{name}@example.com")
    make_member(session, email="cy@example.com", tier="paid")
    session.commit()
    return issue


@pytest.fixture
def editing(client, editor, issue):
    """The editor, signed in, with the dialog's token; returns a poster for the dialog."""
    sign_in(client, editor)
    dialog = f"/admin/issues/{issue.id}/send"
    token = csrf_token(client, dialog)

    def post(path: str = dialog, **data):
        return client.post(path, data={"csrf_token": token, **data})

    return post


def sends(session) -> list[Send]:
    session.expire_all()
    return list(session.scalars(select(Send).order_by(Send.id)))


def jobs(redis, name: str = "send") -> Queue:
    return Queue(name, connection=redis, serializer=JSONSerializer)


def html(response) -> str:
    return response.get_data(as_text=True)


def test_the_dialog_works_without_javascript(client, session, editor, issue):
    audience.save_segment(session, "Paying", "tier:paid")
    session.commit()
    sign_in(client, editor)
    page = html(client.get(f"/admin/issues/{issue.id}/send"))
    assert "Paying (tier:paid)" in page and 'type="datetime-local"' in page
    assert "Time (UTC)" in page and "Send me a test" in page and "Check recipients" in page
    assert 'name="utc_offset" type="hidden" value="0"' in page
    assert f'href="/admin/issues/{issue.id}/send"' in html(client.get(f"/admin/issues/{issue.id}"))


def test_check_recipients_counts_exactly_who_would_get_it(session, editing, issue):
    segment = audience.save_segment(session, "Paying", "tier:paid")
    session.commit()
    everyone = editing(action="check", expression="all")
    assert everyone.status_code == 200
    assert "4 members would get it." in html(everyone)  # three readers and the editor
    paying = editing(action="check", segment=str(segment.id))
    assert "1 member would get it." in html(paying)
    assert sends(session) == []


def test_segment_errors_are_shown_with_their_position(session, editing):
    response = editing(action="check", expression="tier:gold OR")
    assert response.status_code == 400
    assert "unknown tier &#39;gold&#39;; use one of: free, paid, invite (at position 1)" in html(
        response
    )
    refused = editing(action="send", expression="all AND (", confirm="y")
    assert refused.status_code == 400 and "(at position 10)" in html(refused)
    assert sends(session) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"expression": "all"}, "Tick this once you have checked who it goes to."),
        ({"confirm": "y"}, "Choose a saved segment or type an expression"),
        ({"expression": "all", "confirm": "y", "segment": "999"}, "no longer exists"),
        (
            {"expression": "all", "confirm": "y", "when": "later", "at": "2000-01-01T08:00"},
            "2000-01-01 08:00 UTC has passed: choose a later time, or send now.",
        ),
        ({"expression": "all", "confirm": "y", "when": "later"}, "Choose a date and time."),
        (
            {"expression": "all", "confirm": "y", "when": "later", "at": "next tuesday"},
            "Give the time as YYYY-MM-DDTHH:MM",
        ),
        (
            {"expression": "all", "confirm": "y", "when": "later", "at": "2099-01-01T08:00",
             "utc_offset": "east"},
            "time zone offset",
        ),
        (
            {"expression": "all", "confirm": "y", "when": "later", "at": "2099-01-01T08:00",
             "utc_offset": "--5"},
            "time zone offset",
        ),
        (
            {"expression": "all", "confirm": "y", "when": "later", "at": "9999-12-31T23:59",
             "utc_offset": "-840"},
            "Give the time as YYYY-MM-DDTHH:MM",
        ),
        (
            {"expression": "all", "confirm": "y", "at": "2099-01-01T08:00"},
            "You gave a time but chose Now",
        ),
        ({"expression": "all", "confirm": "y", "when": "tomorrow"}, "Not a valid choice"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_in_place_and_sends_nothing(session, editing, data, message):
    response = editing(action="send", **data)
    assert response.status_code == 400
    assert message.replace("'", "&#39;") in html(response)
    assert "Nothing was sent" in html(response)
    assert sends(session) == [] and session.scalar(select(func.count(Delivery.id))) == 0


def test_sending_now_starts_the_send_and_queues_its_job(session, editing, issue, redis):
    response = editing(action="send", expression="all", confirm="y", when="now")
    [send] = sends(session)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/admin/issues/{issue.id}#send-{send.id}")
    assert (send.status, send.recipients) == ("sending", 4)
    assert jobs(redis).count == 1


def test_a_time_in_the_future_schedules_it_in_the_editors_time_zone(
    session, client, editing, issue, redis
):
    moment = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
    wall_clock = moment + timedelta(hours=2)  # what the clock shows where the editor is, UTC+2
    response = editing(
        action="send", expression="tier:paid", confirm="y", when="later",
        at=wall_clock.strftime("%Y-%m-%dT%H:%M"), utc_offset="120",
    )  # fmt: skip
    assert response.status_code == 302
    [send] = sends(session)
    assert (send.status, send.scheduled_at, send.started_at) == ("scheduled", moment, None)
    assert ScheduledJobRegistry(queue=jobs(redis)).count == 1 and jobs(redis).count == 0
    flashed = html(client.get(response.headers["Location"]))
    assert f"Scheduled for {moment:%Y-%m-%d %H:%M} UTC to 1 recipient." in flashed


def test_a_time_a_moment_ago_means_now(session, editing, redis):
    just_now = (utcnow() - timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%S")
    editing(action="send", expression="all", confirm="y", when="later", at=just_now)
    assert [send.status for send in sends(session)] == ["sending"]


@pytest.mark.parametrize("app_overrides", [DEAD_QUEUE])
def test_without_the_job_queue_nothing_is_sent(session, editing):
    response = editing(action="send", expression="all", confirm="y")
    assert response.status_code == 503 and "job queue is unavailable" in html(response)
    assert sends(session) == []


@pytest.fixture
def sending(session, editing, redis) -> Send:
    editing(action="send", expression="all", confirm="y")
    [send] = sends(session)
    return send


def test_pause_resume_and_cancel_from_the_issue_page(
    session, client, editing, issue, sending, redis
):
    page = f"/admin/issues/{issue.id}"
    paused = editing(f"/admin/sends/{sending.id}/pause")
    assert paused.headers["Location"].endswith(f"{page}#send-{sending.id}")
    assert sends(session)[0].status == "paused"
    shown = html(client.get(page))
    assert "Paused by editor@example.com" in shown and "Paused after the batch in flight" in shown
    assert "already paused" in html(
        client.get(editing(f"/admin/sends/{sending.id}/pause").headers["Location"])
    )

    jobs(redis).empty()
    editing(f"/admin/sends/{sending.id}/resume")
    assert sends(session)[0].status == "sending" and jobs(redis).count == 1

    editing(f"/admin/sends/{sending.id}/cancel")
    assert sends(session)[0].status == "cancelled"
    rows = session.scalars(select(Delivery.status).where(Delivery.send_id == sending.id)).all()
    assert set(rows) == {"skipped"}
    after = html(client.get(page))
    assert "Cancelled: members not sent it yet will not get it." in after
    assert f"/admin/sends/{sending.id}/pause" not in after  # no buttons on a finished send


def test_the_buttons_shown_follow_the_state(client, session, editing, issue, sending):
    def visible(page: str) -> set[str]:
        return {
            action
            for action in ("pause", "resume", "cancel", "reschedule")
            if f'/{action}" data-action="{action}">' in page
        }

    page = f"/admin/issues/{issue.id}"
    assert visible(html(client.get(page))) == {"pause", "cancel"}
    editing(f"/admin/sends/{sending.id}/pause")
    assert visible(html(client.get(page))) == {"resume", "cancel"}


def test_a_scheduled_send_can_be_rescheduled(session, client, editing, issue, redis):
    at = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    editing(action="send", expression="all", confirm="y", when="later", at=at)
    [send] = sends(session)
    later = (utcnow() + timedelta(days=3)).replace(second=0, microsecond=0)
    moved = editing(
        f"/admin/sends/{send.id}/reschedule", at=later.strftime("%Y-%m-%dT%H:%M"), back="progress"
    )
    assert moved.headers["Location"].endswith(f"/admin/sends/{send.id}")
    assert sends(session)[0].scheduled_at == later
    assert ScheduledJobRegistry(queue=jobs(redis)).count == 2  # the old job finds it not due
    refused = editing(f"/admin/sends/{send.id}/reschedule", at="2001-01-01T00:00")
    assert "has passed" in html(client.get(refused.headers["Location"]))
    assert sends(session)[0].scheduled_at == later


@pytest.mark.parametrize("app_overrides", [DEAD_QUEUE])
def test_resume_needs_the_queue_and_changes_nothing_without_it(session, client, editing, issue):
    session.add(
        Send(issue_id=issue.id, expression="all", status="paused", paused_reason="Paused by x")
    )
    session.commit()
    [send] = sends(session)
    response = editing(f"/admin/sends/{send.id}/resume")
    assert "Nothing changed: the job queue is unavailable" in html(
        client.get(response.headers["Location"])
    )
    assert sends(session)[0].status == "paused"


def test_the_progress_json_and_page(session, client, editing, sending):
    ids = session.scalars(select(Delivery.id).where(Delivery.send_id == sending.id)).all()
    session.execute(
        update(Delivery).where(Delivery.id == ids[0]).values(status="sent", sent_at=utcnow())
    )
    session.commit()
    data = client.get(f"/admin/sends/{sending.id}.json").get_json()
    assert data["status"] == "sending" and data["counts"]["sent"] == 1
    assert data["counts"]["pending"] == 3 and data["percent"] == 25
    assert data["actions"] == ["pause", "cancel"] and data["live"] is True
    assert data["display"]["summary"] == "Sent 1 of 4"
    page = client.get(f"/admin/sends/{sending.id}")
    assert page.status_code == 200 and "Sent 1 of 4" in html(page)
    assert '<progress max="100" value="25"' in html(page)
    assert client.get("/admin/sends/999999.json").status_code == 404
    assert client.get("/admin/sends/999999").status_code == 404


def test_a_missing_csrf_token_is_refused(client, session, editor, issue, sending):
    assert client.post(f"/admin/sends/{sending.id}/cancel").status_code == 400
    response = client.post(
        f"/admin/issues/{issue.id}/send", data={"expression": "all", "confirm": "y"}
    )
    assert response.status_code == 400
    assert [send.status for send in sends(session)] == ["sending"]


def test_only_editors_see_or_control_sends(app, client, session, issue, sending):
    anonymous = app.test_client().get(f"/admin/sends/{sending.id}.json")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    sign_in(client, make_member(session))
    token = csrf_token(client, "/account")
    pages = ("", ".json")
    for path in [f"/admin/sends/{sending.id}{end}" for end in pages] + [
        f"/admin/issues/{issue.id}/send"
    ]:
        assert client.get(path).status_code == 403
    cancel = client.post(f"/admin/sends/{sending.id}/cancel", data={"csrf_token": token})
    assert cancel.status_code == 403
    assert [send.status for send in sends(session)] == ["sending"]
