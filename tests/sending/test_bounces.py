"""The bounce rules: who is suppressed when, counted once, and never revived by a bounce."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.members.models import Member
from app.sending import bounces
from app.sending.bounces import SOFT_BOUNCE_LIMIT, classify, record_bounce
from app.sending.models import Bounce, Delivery
from app.sending.service import claim_batch, start_send
from tests.conftest import POSTGRES_URL, make_member, sign_in
from tests.members.test_importer import run_import, write
from tests.members.test_subscriptions import subscribe
from tests.sending.deliveries import make_issue, sent_deliveries


@pytest.mark.parametrize(
    ("status_code", "smtp_code", "kind"),
    [
        ("5.1.1", 550, "hard"),  # no such mailbox
        ("5.1.10", None, "hard"),  # RFC 7505 null MX
        ("5.4.4", None, "hard"),  # unroutable domain
        ("5.2.2", 552, "soft"),  # mailbox full: RFC 3463 calls it temporary in general
        ("5.3.4", 552, "soft"),  # message too big: about the message, not the address
        ("5.7.1", 550, "soft"),  # policy / spam filter: about the message, not the address
        ("4.2.2", 452, "soft"),
        ("", 550, "hard"),
        ("", "554", "hard"),
        ("", 552, "soft"),
        ("", 421, "soft"),
        ("not a code", 550, "hard"),
        ("", None, "soft"),  # unknown: soft, never lose a reader on a guess
    ],
)
def test_classify(status_code, smtp_code, kind):
    assert classify(status_code, smtp_code) == kind


@pytest.fixture
def ann(session):
    return make_member(session, email="ann@example.com")


def bounce(session, member, kind, *, delivery=None, report_id=None, status_code="5.1.1"):
    recorded = record_bounce(
        session,
        member_id=member.id,
        delivery_id=delivery.id if delivery else None,
        kind=kind,
        status_code=status_code,
        diagnostic="550 5.1.1 no such user",
        report_id=report_id,
    )
    session.commit()
    session.expire_all()
    return recorded


def test_a_hard_bounce_suppresses_at_once_and_marks_the_delivery(session, ann):
    delivery = sent_deliveries(session)[ann.id]
    assert bounce(session, ann, "hard", delivery=delivery) is not None
    member = session.get(Member, ann.id)
    assert member.status == "bounced" and member.last_bounced_at is not None
    delivery = session.get(Delivery, delivery.id)
    assert delivery.status == "bounced" and "5.1.1" in delivery.error


def test_a_complaint_suppresses_at_once(session, ann):
    delivery = sent_deliveries(session)[ann.id]
    bounce(session, ann, "complaint", delivery=delivery, status_code="")
    member = session.get(Member, ann.id)
    assert member.status == "complained" and member.last_bounced_at is None
    assert session.get(Delivery, delivery.id).status == "bounced"


def test_soft_bounces_count_and_suppress_at_the_limit(session, ann):
    deliveries = [sent_deliveries(session)[ann.id] for _ in range(SOFT_BOUNCE_LIMIT)]
    for number, delivery in enumerate(deliveries, start=1):
        bounce(session, ann, "soft", delivery=delivery, status_code="4.2.2")
        member = session.get(Member, ann.id)
        assert member.soft_bounces == number
        assert member.status == ("bounced" if number == SOFT_BOUNCE_LIMIT else "active")
    assert session.get(Delivery, deliveries[0].id).status == "sent"  # a soft bounce is no verdict


def test_a_delivery_counts_once_toward_the_soft_limit(session, ann):
    delivery = sent_deliveries(session)[ann.id]
    for number in range(SOFT_BOUNCE_LIMIT):
        bounce(session, ann, "soft", delivery=delivery, report_id=f"<warn-{number}@x>")
    member = session.get(Member, ann.id)
    assert (member.soft_bounces, member.status) == (1, "active")


def test_a_duplicate_report_is_counted_once(session, ann):
    assert bounce(session, ann, "soft", report_id="<r1@mx.example>") is not None
    assert bounce(session, ann, "soft", report_id="<r1@mx.example>") is None
    assert session.get(Member, ann.id).soft_bounces == 1
    assert len(session.scalars(select(Bounce)).all()) == 1


@pytest.mark.parametrize(
    ("before", "kind", "after"),
    [
        ("unsubscribed", "hard", "unsubscribed"),  # their own choice stays on record
        ("unsubscribed", "complaint", "unsubscribed"),
        ("bounced", "complaint", "complained"),  # a complaint outranks a bounce
        ("complained", "hard", "complained"),
        ("complained", "soft", "complained"),
        ("pending", "hard", "bounced"),
    ],
)
def test_a_stronger_state_is_never_overwritten(session, before, kind, after):
    member = make_member(session, status=before, soft_bounces=SOFT_BOUNCE_LIMIT)
    bounce(session, member, kind)
    assert session.get(Member, member.id).status == after


def test_odd_text_is_stored_safely(session, ann):
    long_id = "<" + "x" * 300 + "@mx.example>"
    recorded = record_bounce(
        session, member_id=ann.id, delivery_id=None, kind="hard", status_code="5.1.1; DROP",
        diagnostic="bad \x00 byte \udcff here", report_id=long_id,
    )  # fmt: skip
    session.commit()
    assert recorded.report_id.startswith("sha256:") and recorded.status_code == ""
    assert recorded.diagnostic == "bad  byte ? here"
    assert bounce(session, ann, "hard", report_id=long_id) is None  # the same key again


def test_a_diagnostic_keeps_no_address(session, ann):
    """A report quotes the address it bounced; the bounce row already names the member."""
    recorded = record_bounce(
        session, member_id=ann.id, delivery_id=None, kind="hard",
        diagnostic="smtp; 550 5.1.1 <Ann@Example.com>... User unknown (ann@example.com)",
    )  # fmt: skip
    assert recorded.diagnostic == "smtp; 550 5.1.1 <(address)>... User unknown ((address))"


def test_an_unknown_kind_is_refused(session, ann):
    with pytest.raises(ValueError, match="not 'bogus'"):
        record_bounce(session, member_id=ann.id, delivery_id=None, kind="bogus")


def test_a_suppressed_member_is_not_claimed_by_a_later_send(session, ann):
    bob = make_member(session, email="bob@example.com")
    queued = start_send(session, make_issue(session), "all")  # rows materialized before…
    session.commit()
    bounce(session, ann, "hard")  # …the bounce of an earlier issue arrives
    claimed = claim_batch(session, queued.id)
    assert [member_id for _, member_id in claimed.rows] == [bob.id]
    later = start_send(session, make_issue(session), "all")
    members = session.scalars(select(Delivery.member_id).where(Delivery.send_id == later.id))
    assert list(members) == [bob.id]


def test_a_reimport_does_not_revive_a_bounced_member(app, session, ann, tmp_path):
    bounce(session, ann, "hard")
    path = write(tmp_path, "email,name,status\nann@example.com,Ann,active\n")
    assert run_import(app, path).exit_code == 0
    session.expire_all()
    assert session.get(Member, ann.id).status == "bounced"


@pytest.mark.parametrize("kind", ["hard", "complaint"])
def test_a_resignup_does_not_revive_and_looks_like_any_other(
    app, client, session, smtp, redis, ann, kind
):
    bounce(session, ann, kind)
    suppressed = subscribe(client, "ann@example.com")
    fresh = subscribe(client, "zed@example.com")
    assert suppressed.status_code == fresh.status_code == 200
    assert suppressed.get_data(as_text=True).replace("ann@", "zed@") == fresh.get_data(as_text=True)
    session.expire_all()
    assert session.get(Member, ann.id).status == ("bounced" if kind == "hard" else "complained")


def test_the_member_page_shows_the_bounce_history(client, session, editor, ann):
    bounce(session, ann, "hard")
    bounce(session, ann, "complaint", status_code="")
    sign_in(client, editor)
    html = client.get(f"/admin/members/{ann.id}").get_data(as_text=True)
    assert "Bounces and complaints" in html and "5.1.1" in html and "complaint" in html
    assert [b.kind for b in bounces.history(session, ann.id)] == ["complaint", "hard"]


@pytest.mark.skipif(not POSTGRES_URL, reason="concurrent writers need PostgreSQL")
def test_the_same_report_at_once_from_two_connections_counts_once(engine):
    """Two transactions race on one report id: the unique index decides, nobody sees an error."""
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    with Session(engine) as setup:
        member = Member(email="race@example.com", status="active")
        setup.add(member)
        setup.commit()
        member_id = member.id
    start, results = threading.Barrier(2), []

    def record() -> None:
        with Session(engine) as session:
            start.wait()
            results.append(
                record_bounce(
                    session,
                    member_id=member_id,
                    delivery_id=None,
                    kind="soft",
                    report_id="<race@mx.example>",
                )  # fmt: skip
                is not None
            )
            session.commit()

    try:
        threads = [threading.Thread(target=record) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        with Session(engine) as check:
            assert sorted(results) == [False, True]
            assert check.get(Member, member_id).soft_bounces == 1
    finally:
        with Session(engine) as cleanup:
            cleanup.execute(delete(Bounce).where(Bounce.member_id == member_id))
            cleanup.execute(delete(Member).where(Member.id == member_id))
            cleanup.commit()


def test_old_soft_bounces_are_forgiven(session, ann):
    for number in range(SOFT_BOUNCE_LIMIT - 1):
        bounce(session, ann, "soft", report_id=f"<old-{number}@x>")
    member = session.get(Member, ann.id)
    member.last_bounced_at -= bounces.SOFT_BOUNCE_WINDOW + timedelta(days=1)
    session.commit()
    bounce(session, ann, "soft", report_id="<new@x>")
    member = session.get(Member, ann.id)
    assert (member.soft_bounces, member.status) == (1, "active")
