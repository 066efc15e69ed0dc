"""Invitations, the service: codes, limits, expiry, revocation, once per member, races."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.members import invites
from app.members.models import Invite, InviteRedemption, Member
from tests.conftest import POSTGRES_URL, make_member


def redemption_count(session, invite) -> int:
    return len(
        session.scalars(
            select(InviteRedemption).where(InviteRedemption.invite_id == invite.id)
        ).all()
    )


def test_codes_are_long_random_and_unique(session):
    codes = {invites.create(session).code for _ in range(20)}
    assert len(codes) == 20 and all(len(code) >= 32 for code in codes)


def test_redeeming_grants_the_tier_and_tags_and_is_recorded(session):
    invite = invites.create(session, tags=["friends", " early  bird "], max_uses=5)
    member = make_member(session)
    done = invites.redeem(session, invite.code, member, "203.0.113.9")
    assert done.newly and invite.uses == 1
    assert member.tier == "invite"
    assert [tag.name for tag in member.tags] == ["early bird", "friends"]
    row = session.scalar(select(InviteRedemption).where(InviteRedemption.invite_id == invite.id))
    assert (row.member_id, row.ip) == (member.id, "203.0.113.9")


def test_the_same_member_redeeming_twice_counts_once(session):
    invite = invites.create(session, max_uses=1)
    member = make_member(session)
    invites.redeem(session, invite.code, member, None)
    again = invites.redeem(session, invite.code, member, None)  # even though it is used up now
    assert not again.newly and invite.uses == 1 and redemption_count(session, invite) == 1


def test_a_single_use_invite_is_used_up_by_the_first_person(session):
    invite = invites.create(session, max_uses=1)
    invites.redeem(session, invite.code, make_member(session), None)
    with pytest.raises(invites.InviteError, match="already been used"):
        invites.redeem(session, invite.code, make_member(session), None)
    assert invite.uses == 1 and invites.state(invite) == "used up"


def test_an_unlimited_invite_takes_anyone(session):
    invite = invites.create(session)
    for _ in range(3):
        invites.redeem(session, invite.code, make_member(session), None)
    assert invite.uses == 3 and invites.state(invite) == "active"


def test_expired_revoked_and_unknown_codes_are_refused_and_change_nothing(session):
    member = make_member(session)
    expired = invites.create(session, expires_at=utcnow() + timedelta(seconds=1))
    expired.expires_at = utcnow() - timedelta(minutes=1)
    revoked = invites.revoke(session, invites.create(session).id).code
    for code, reason in [(expired.code, "expired"), (revoked, "withdrawn"),
                         ("x" * 32, "does not exist"), ("", "does not exist")]:  # fmt: skip
        with pytest.raises(invites.InviteError, match=reason):
            invites.redeem(session, code, member, None)
    assert member.tier == "free" and session.scalars(select(InviteRedemption)).all() == []


def test_a_pending_member_must_confirm_first(session):
    invite = invites.create(session)
    with pytest.raises(invites.InviteError, match="Confirm"):
        invites.redeem(session, invite.code, make_member(session, status="pending"), None)
    assert invite.uses == 0


def test_a_paid_member_keeps_paid_after_an_invite(session):
    member = make_member(session, tier="paid")
    invites.redeem(session, invites.create(session).code, member, None)
    assert member.tier == "paid"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tier": "gold"}, "Unknown tier"),
        ({"max_uses": 0}, "at least one use"),
        ({"expires_at": datetime(2020, 1, 1, tzinfo=UTC)}, "in the future"),
        ({"tags": [""]}, "tag needs"),
    ],
)
def test_bad_invitations_are_refused(session, overrides, message):
    with pytest.raises(invites.InviteError, match=message):
        invites.create(session, **overrides)
    assert session.scalars(select(Invite)).all() == []


def test_expiry_parsing():
    assert invites.parse_expiry("2030-01-02") == datetime(2030, 1, 2, tzinfo=UTC)
    assert invites.parse_expiry("2030-01-02T10:00+02:00").utcoffset() == timedelta(hours=2)
    assert invites.parse_expiry(" ") is None
    with pytest.raises(invites.InviteError, match="ISO 8601"):
        invites.parse_expiry("next tuesday")


def test_a_member_invites_friends_until_none_are_left(session):
    member = make_member(session, invites_left=1)
    invite = invites.create_for_friend(session, member)
    assert (invite.max_uses, invite.tier, invite.created_by_id) == (1, "invite", member.id)
    assert member.invites_left == 0
    with pytest.raises(invites.InviteError, match="no invitations left"):
        invites.create_for_friend(session, member)
    assert invites.given_by(session, member) == [invite]


def test_an_editor_lets_a_member_invite_friends(session):
    member = make_member(session, email="friendly@example.com")
    assert invites.allow_friends(session, "Friendly@Example.com", 3).invites_left == 3
    with pytest.raises(invites.InviteError, match="No member"):
        invites.allow_friends(session, "nobody@example.com", 3)
    with pytest.raises(invites.InviteError, match="between 0 and 1000"):
        invites.allow_friends(session, member.email, -1)


def test_the_list_counts_redemptions_and_names_states(session):
    used = invites.create(session, max_uses=1)
    invites.redeem(session, used.code, make_member(session), None)
    invites.revoke(session, invites.create(session).id)
    rows = {row.invite.id: row for row in invites.list_invites(session)}
    assert (rows[used.id].state, rows[used.id].redemptions) == ("used up", 1)
    assert sorted(row.state for row in rows.values()) == ["revoked", "used up"]
    invite, redemptions = invites.redemptions(session, used.id)
    assert invite is used and len(redemptions) == 1


@pytest.mark.skipif(not POSTGRES_URL, reason="concurrent writers need PostgreSQL")
def test_the_last_use_goes_to_exactly_one_of_many_at_once(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    racers = 6
    with Session(engine) as setup:
        people = [Member(email=f"racer{n}@example.com", status="active") for n in range(racers)]
        setup.add_all(people)
        invite = invites.create(setup, max_uses=2)
        setup.commit()
        code, ids = invite.code, [person.id for person in people]
    start, outcomes = threading.Barrier(racers), []

    def race(member_id: int) -> None:
        with Session(engine) as session:
            member = session.get(Member, member_id)
            start.wait()
            try:
                invites.redeem(session, code, member, None)
                session.commit()
                outcomes.append("in")
            except invites.InviteError:
                session.rollback()
                outcomes.append("refused")

    try:
        threads = [threading.Thread(target=race, args=(member_id,)) for member_id in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        with Session(engine) as check:
            stored = check.scalar(select(Invite).where(Invite.code == code))
            assert sorted(outcomes) == ["in"] * 2 + ["refused"] * (racers - 2)
            assert stored.uses == 2 and redemption_count(check, stored) == 2
            granted = check.scalars(select(Member.tier).where(Member.id.in_(ids))).all()
            assert sorted(granted) == ["free"] * (racers - 2) + ["invite"] * 2
    finally:
        with Session(engine) as cleanup:
            cleanup.execute(delete(Invite).where(Invite.code == code))
            cleanup.execute(delete(Member).where(Member.id.in_(ids)))
            cleanup.commit()
