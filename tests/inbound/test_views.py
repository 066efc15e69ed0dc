"""``POST /inbound/email``: the webhook door for bounces and complaints, over the test client."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.inbound import service
from app.members.models import Member
from app.sending.models import Bounce
from tests.conftest import make_member
from tests.inbound.conftest import bounce_address, report
from tests.sending.deliveries import sent_deliveries

SECRET = "inbound-secret-for-tests"
AUTH = {"Authorization": f"Bearer {SECRET}", "Content-Type": "message/rfc822"}


@pytest.fixture
def app_overrides():
    return {"inbound_secret": SECRET}


@pytest.fixture
def delivery(session):
    ann = make_member(session, email="ann@example.com")
    return sent_deliveries(session)[ann.id]


def post(client, raw: bytes, *, headers=None, query: str = ""):
    return client.post(f"/inbound/email{query}", data=raw, headers=headers or AUTH)


def bounce_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Bounce))


def test_a_bounce_is_recorded_with_the_envelope_recipient_in_the_query(
    client, session, settings, delivery
):
    address = bounce_address(settings, delivery)
    raw = report("postfix_user_unknown", message_id=delivery.message_id)
    response = post(client, raw, query=f"?to={address}")
    assert response.status_code == 202
    assert response.get_json() | {"bounce_id": 0} == {
        "status": "recorded",
        "detail": "Recorded a hard bounce.",
        "kind": "hard",
        "bounce_id": 0,
    }
    session.expire_all()
    assert session.get(Member, delivery.member_id).status == "bounced"
    again = post(client, raw, query=f"?to={address}")  # the ESP retries: counted once
    assert again.status_code == 202 and again.get_json()["status"] == "duplicate"
    assert bounce_count(session) == 1


def test_the_envelope_recipient_may_come_in_x_original_to_or_only_in_the_message(
    client, session, settings, delivery
):
    address = bounce_address(settings, delivery)
    via_header = post(
        client, report("gmail_mailbox_full"), headers={**AUTH, "X-Original-To": address}
    )
    assert via_header.status_code == 202 and via_header.get_json()["kind"] == "soft"
    in_message = post(client, report("exchange_policy", bounce=address))
    assert in_message.status_code == 202 and in_message.get_json()["status"] == "recorded"
    assert bounce_count(session) == 2


@pytest.mark.parametrize("app_overrides", [{}])
def test_without_inbound_secret_the_webhook_does_not_exist(client, session):
    assert post(client, report("postfix_user_unknown")).status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", f"Basic {SECRET}", f"Bearer {SECRET}x", "Bearer", ""],
)
def test_a_missing_or_wrong_secret_is_refused(client, session, delivery, authorization):
    headers = {"Content-Type": "message/rfc822"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = post(client, report("postfix_user_unknown"), headers=headers)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json()["status"] == "error" and bounce_count(session) == 0


def test_bad_input_gets_a_clear_answer_and_changes_nothing(client, session, settings, delivery):
    address = bounce_address(settings, delivery)
    cases = [
        (post(client, b"", query=f"?to={address}"), 400, "unparsable"),
        (post(client, report("broken_mime"), query=f"?to={address}"), 400, "unparsable"),
        (post(client, report("postfix_user_unknown"), query="?to=x@elsewhere.example"), 422,
         "unknown_recipient"),
        (post(client, report("postfix_user_unknown"), query="?to=bounce%2Bforged@localhost"),
         422, "invalid_address"),
    ]  # fmt: skip
    for response, status, outcome in cases:
        assert (response.status_code, response.get_json()["status"]) == (status, outcome)
    assert bounce_count(session) == 0


def test_oversized_bodies_and_forms_are_refused(client, session):
    huge = b"Subject: x\r\n\r\n" + b"x" * service.MAX_MESSAGE_BYTES
    response = post(client, huge)
    assert response.status_code == 413 and "10 MB" in response.get_json()["detail"]
    form = client.post(
        "/inbound/email",
        data={"message": "x"},
        headers={"Authorization": f"Bearer {SECRET}"},
    )
    assert form.status_code == 415


def test_a_body_above_the_site_form_limit_is_still_taken(client, session, settings, delivery):
    """The site refuses forms above 2 MB; a bounce returning a large issue is larger."""
    address = bounce_address(settings, delivery)
    raw = report("postfix_user_unknown").replace(
        b"Use 75 %.", b"Use 75 %.\r\n" + (b"x" * 76 + b"\r\n") * 40_000
    )
    assert len(raw) > client.application.config["MAX_CONTENT_LENGTH"]
    assert post(client, raw, query=f"?to={address}").status_code == 202
