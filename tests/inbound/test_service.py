"""Receiving a report: whose failure it is, recorded once, and nothing written for bad input."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.inbound import service
from app.members import tokens
from app.members.models import Member
from app.sending.models import Bounce, Delivery
from tests.conftest import make_member
from tests.inbound.conftest import FBL_ADDRESS, bounce_address, report
from tests.sending.deliveries import sent_deliveries


@pytest.fixture
def ann(session):
    return make_member(session, email="ann@example.com")


@pytest.fixture
def delivery(session, ann):
    return sent_deliveries(session)[ann.id]


def receive(session, settings, raw: bytes, recipients: list[str]) -> service.Outcome:
    outcome = service.receive(session, settings, raw, recipients)
    session.commit()
    session.expire_all()
    return outcome


def bounces(session) -> list[Bounce]:
    return list(session.scalars(select(Bounce)))


def test_a_hard_bounce_to_the_verp_address_suppresses_the_member(session, settings, ann, delivery):
    address = bounce_address(settings, delivery)
    raw = report("postfix_user_unknown", bounce=address, message_id=delivery.message_id)
    outcome = receive(session, settings, raw, [address])
    assert (outcome.status, outcome.kind) == ("recorded", "hard")
    assert session.get(Member, ann.id).status == "bounced"
    assert session.get(Delivery, delivery.id).status == "bounced"
    [bounce] = bounces(session)
    assert (bounce.member_id, bounce.delivery_id, bounce.status_code) == (
        ann.id,
        delivery.id,
        "5.1.1",
    )
    assert bounce.report_id == "<20260303091422.4ZkQ3T1xYhz9sWm@mail.example.net>"
    assert outcome.bounce_id == bounce.id


def test_the_same_report_twice_counts_once(session, settings, ann, delivery):
    address = bounce_address(settings, delivery)
    raw = report("gmail_mailbox_full", bounce=address)
    assert receive(session, settings, raw, [address]).status == "recorded"
    assert receive(session, settings, raw, [address]).status == "duplicate"
    assert len(bounces(session)) == 1 and session.get(Member, ann.id).soft_bounces == 1


def test_without_an_envelope_token_the_report_headers_name_the_member(
    session, settings, ann, delivery
):
    address = bounce_address(settings, delivery)
    raw = report("exchange_policy", bounce=address)  # To: and the original's Return-Path
    outcome = receive(session, settings, raw, [])
    assert (outcome.status, outcome.kind) == ("recorded", "soft")
    assert bounces(session)[0].delivery_id == delivery.id


def test_without_any_token_the_original_message_id_names_the_delivery(
    session, settings, ann, delivery
):
    raw = report("qmail_failure", message_id=delivery.message_id)
    outcome = receive(session, settings, raw, ["bounces@some-esp.example"])
    assert outcome.status == "recorded"
    assert session.get(Member, ann.id).status == "bounced"


def test_a_guessed_message_id_names_nobody(session, settings, ann, delivery):
    guessed = delivery.message_id.split(".d")[0] + f".d{delivery.id}.000000000000@localhost>"
    outcome = receive(session, settings, report("qmail_failure", message_id=guessed), [])
    assert outcome.status == "unknown_recipient" and bounces(session) == []


def test_a_complaint_through_a_feedback_loop_address(session, settings, ann, delivery):
    raw = report("arf_abuse", bounce=bounce_address(settings, delivery))
    outcome = receive(session, settings, raw, [FBL_ADDRESS])
    assert (outcome.status, outcome.kind) == ("recorded", "complaint")
    assert session.get(Member, ann.id).status == "complained"
    assert session.get(Delivery, delivery.id).status == "bounced"


def test_a_complaint_found_by_message_id_alone(session, settings, ann, delivery):
    raw = report("arf_abuse", message_id=delivery.message_id)
    assert receive(session, settings, raw, [FBL_ADDRESS]).status == "recorded"
    assert session.get(Member, ann.id).status == "complained"


@pytest.mark.parametrize("name", ["exim_delayed", "vacation"])
def test_delay_notices_and_auto_replies_change_nothing(session, settings, ann, delivery, name):
    address = bounce_address(settings, delivery)
    outcome = receive(session, settings, report(name, bounce=address), [address])
    assert outcome.status == "ignored" and outcome.detail.startswith("Nothing to record")
    member = session.get(Member, ann.id)
    assert (member.status, member.soft_bounces, bounces(session)) == ("active", 0, [])


def forged(settings, delivery) -> str:
    token = tokens.sign(settings, "bounce", {"m": delivery.member_id, "d": delivery.id})
    return f"bounce+{token[:-2]}xx@{settings.reply_domain}"


def another_purpose(settings, delivery) -> str:
    token = tokens.sign(settings, "unsubscribe", {"m": delivery.member_id, "e": "x"})
    return f"bounce+{token}@{settings.reply_domain}"


def reply(settings, delivery) -> str:
    token = tokens.sign(settings, "reply", {"m": delivery.member_id, "i": 1})
    return f"reply+{token}@{settings.reply_domain}"


@pytest.mark.parametrize(
    ("make_address", "status", "words"),
    [
        (forged, "invalid_address", "does not verify"),
        (another_purpose, "invalid_address", "does not verify"),
        (reply, "ignored", "Not posted: an automatic message"),  # a bounce is no reply
    ],
)
def test_forged_tokens_and_bounces_at_reply_addresses_change_nothing(
    session, settings, ann, delivery, make_address, status, words
):
    address = make_address(settings, delivery)
    raw = report("postfix_user_unknown", bounce=address, message_id=delivery.message_id)
    outcome = receive(session, settings, raw, [address])
    assert outcome.status == status and words in outcome.detail
    assert session.get(Member, ann.id).status == "active" and bounces(session) == []


def test_a_bounce_for_an_erased_member_names_nobody(session, settings, ann, delivery):
    address = bounce_address(settings, delivery)
    session.delete(session.get(Member, ann.id))
    session.commit()
    outcome = receive(session, settings, report("postfix_user_unknown", bounce=address), [address])
    assert outcome.status == "unknown_recipient" and bounces(session) == []


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"", "unparsable"),
        (b"no headers at all", "unparsable"),
        (report("broken_mime"), "unparsable"),
        (b"Subject: x\r\n\r\n" + b"x" * (service.MAX_MESSAGE_BYTES + 1), "too_large"),
    ],
)
def test_unreadable_and_oversized_messages_change_nothing(
    session, settings, ann, delivery, raw, status
):
    outcome = receive(session, settings, raw, [bounce_address(settings, delivery)])
    assert outcome.status == status
    assert session.scalar(select(func.count()).select_from(Bounce)) == 0


def test_a_report_naming_nobody_of_ours_is_unknown(session, settings, ann):
    outcome = receive(session, settings, report("postfix_user_unknown"), ["x@elsewhere.example"])
    assert outcome.status == "unknown_recipient" and "names no member" in outcome.detail


@pytest.mark.parametrize(
    ("recipient", "status"),
    [
        ("someone@elsewhere.example", "unknown_recipient"),
        ("bounce+nothing@localhost", "invalid_address"),
        ("postmaster@localhost", "unknown_recipient"),
    ],
)
def test_screening_recipients(settings, recipient, status):
    assert service.screen_recipient(settings, recipient).status == status


def test_screening_accepts_only_valid_addresses_of_ours(session, settings, ann, delivery):
    assert service.screen_recipient(settings, bounce_address(settings, delivery)) is None
    upper = bounce_address(settings, delivery).replace("@localhost", "@LOCALHOST")
    assert service.screen_recipient(settings, f"<{upper}>") is None
    assert service.screen_recipient(settings, reply(settings, delivery)) is None
