"""Reading real-world-shaped reports: RFC 3464 DSNs, RFC 5965 ARF, and bounces in no format."""

from __future__ import annotations

import hypothesis
import pytest
from hypothesis import strategies as st

from app.inbound import reports
from tests.inbound.conftest import FIXTURES, report

BOUNCE = "bounce+abc.def@localhost"
ORIGINAL = "<i3.d7.0a1b2c@localhost>"


def read(name: str, **overrides) -> reports.Report:
    values = {"bounce": BOUNCE, "message_id": ORIGINAL, **overrides}
    return reports.parse(report(name, **values))


@pytest.mark.parametrize(
    ("name", "kind", "status_code", "words"),
    [
        ("postfix_user_unknown", "hard", "5.1.1", "User unknown in virtual mailbox table"),
        ("gmail_mailbox_full", "soft", "5.2.2", "out of storage space"),
        ("exchange_policy", "soft", "5.7.1", "rejected as spam"),
        ("qmail_failure", "hard", "5.1.1", "User unknown"),
        ("plain_undelivered", "hard", "", "550 Requested action not taken"),
        ("arf_abuse", "complaint", "", "abuse report from SomeGenerator/1.0"),
    ],
)
def test_failures_are_read_with_their_codes(name, kind, status_code, words):
    found = read(name)
    assert found.failure.kind == kind and found.failure.status_code == status_code
    assert words in found.failure.diagnostic
    assert "\n" not in found.failure.diagnostic  # folded header lines are joined


@pytest.mark.parametrize(
    "name", ["postfix_user_unknown", "gmail_mailbox_full", "exchange_policy", "qmail_failure"]
)
def test_the_original_message_id_comes_from_the_returned_message(name):
    assert read(name).original_message_id == ORIGINAL


def test_the_return_path_is_found_in_the_report_and_the_returned_original():
    found = read("postfix_user_unknown", bounce="bounce+abc.def@localhost")
    assert found.addresses == (BOUNCE,)  # To, Delivered-To, Return-Path…: once
    assert read("gmail_mailbox_full", bounce="x@y.example").addresses == ("x@y.example",)


def test_a_complaint_names_the_envelope_sender_of_the_original():
    found = read("arf_abuse")
    assert found.addresses == ("fbl@feedback.example.org", BOUNCE)
    assert found.report_id == "<arf-20260307183001.7c1d@feedback.example>"


@pytest.mark.parametrize(
    ("name", "note"),
    [
        ("exim_delayed", "a delay notice"),
        ("vacation", "not a bounce or a complaint"),
    ],
)
def test_delay_notices_and_auto_replies_are_not_failures(name, note):
    found = read(name)
    assert found.failure is None and found.note.startswith(note)


def test_other_feedback_types_and_successes_are_not_failures():
    not_spam = report("arf_abuse").replace(b"Feedback-Type: abuse", b"Feedback-Type: not-spam")
    found = reports.parse(not_spam)
    assert found.failure is None and "type not-spam" in found.note
    delivered = report("postfix_user_unknown").replace(b"Action: failed", b"Action: delivered")
    assert reports.parse(delivered).failure is None


def test_a_report_without_a_message_id_gets_one_from_its_bytes():
    first, again = read("qmail_failure"), read("qmail_failure")
    assert first.report_id.startswith("sha256:") and first.report_id == again.report_id


def test_a_read_receipt_is_not_a_bounce():
    raw = (
        b"From: ann@example.com\r\nTo: " + BOUNCE.encode() + b"\r\nSubject: Read: Hydration\r\n"
        b'Content-Type: multipart/report; report-type=disposition-notification; boundary="b"\r\n'
        b"\r\n--b\r\nContent-Type: text/plain\r\n\r\nRead.\r\n"
        b"--b\r\nContent-Type: message/disposition-notification\r\n\r\n"
        b"Final-Recipient: rfc822; ann@example.com\r\nDisposition: manual-action/MDN-sent-manually;"
        b" displayed\r\n\r\n--b--\r\n"
    )
    assert reports.parse(raw).note == "a read receipt, not a bounce"


def test_undecodable_bytes_and_unknown_charsets_do_not_break_the_reading():
    raw = (
        b"From: MAILER-DAEMON@old.example\r\nSubject: failure notice \xff\xfe\x00\r\n"
        b"Content-Type: text/plain; charset=x-unknown-charset\r\n\r\n"
        b"<ann@example.com>: 550 5.1.1 no mailbox \xe9\xff here\r\n"
    )
    found = reports.parse(raw)
    assert found.failure.kind == "hard" and found.failure.status_code == "5.1.1"
    assert "no mailbox" in found.failure.diagnostic


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"  \r\n\r\n", "empty"),
        (b"just some bytes without any header\r\n", "no header fields"),
        (report("broken_mime"), "MIME structure is broken"),
    ],
)
def test_unreadable_messages_are_refused_with_a_reason(raw, reason):
    with pytest.raises(reports.ReportError, match=reason):
        reports.parse(raw)


FIXTURE_NAMES = sorted(path.stem for path in FIXTURES.glob("*.eml"))


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(
    name=st.sampled_from(FIXTURE_NAMES),
    damage=st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=0, max_size=8)), max_size=6),
)
def test_damaged_reports_are_read_or_refused_never_crash(name, damage):
    """Cut, overwrite or splice any fixture: the answer is a Report or a ReportError."""
    raw = report(name, bounce=BOUNCE, message_id=ORIGINAL)
    for where, junk in damage:
        at = int(where * len(raw))
        raw = raw[:at] + junk + raw[at + len(junk) :]
    try:
        found = reports.parse(raw)
    except reports.ReportError:
        return
    assert found.report_id and isinstance(found.addresses, tuple)
    if found.failure is not None:
        assert found.failure.kind in ("hard", "soft", "complaint")
