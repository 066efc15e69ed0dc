"""``/join/<code>`` on the web: joining by email confirmation, redeeming, limits and errors."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.db import utcnow
from app.members import invites
from app.members.models import ConsentEvent, InviteRedemption, LoginToken, Member
from tests.conftest import csrf_token, make_member, run_jobs, sign_in

LINK = re.compile(r"http://localhost(/(?:join|login)/\S+)")


@pytest.fixture
def invite(session):
    made = invites.create(session, tags=["friends"], max_uses=3)
    session.commit()
    return made


def mailed_path(smtp) -> str:
    text = smtp.received[-1].message.get_body(preferencelist=("plain",)).get_content()
    return LINK.search(text).group(1)


def join(client, code: str, email: str):
    token = csrf_token(client, f"/join/{code}")
    return client.post(f"/join/{code}", data={"email": email, "name": "Nia", "csrf_token": token})


def redemptions(session, invite) -> list[InviteRedemption]:
    rows = select(InviteRedemption).where(InviteRedemption.invite_id == invite.id)
    return session.scalars(rows).all()


def test_the_page_says_what_the_invitation_grants(client, invite):
    page = client.get(f"/join/{invite.code}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "invite</strong> membership" in html and "friends" in html
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert 'name="email"' in html and "Redeem" not in html


def test_a_new_person_joins_through_the_confirmation_email(
    app, client, session, invite, smtp, redis
):
    response = join(client, invite.code, "Nia@Example.com")
    assert response.status_code == 200 and "Check your inbox" in response.get_data(as_text=True)
    run_jobs(app)
    assert smtp.received[-1].recipients == ["nia@example.com"]
    path = mailed_path(smtp)
    assert path.startswith(f"/join/{invite.code}/confirm/")
    member = session.scalar(select(Member).where(Member.email == "nia@example.com"))
    assert (member.status, member.tier, member.source) == ("pending", "free", "invite")

    page = client.get(path)  # a mail scanner's GET changes nothing
    assert page.status_code == 200 and "Confirm and join" in page.get_data(as_text=True)
    done = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert done.status_code == 302 and done.headers["Location"].startswith("/account")
    session.expire_all()
    assert (member.status, member.tier) == ("active", "invite")
    assert [tag.name for tag in member.tags] == ["friends"]
    assert [row.member_id for row in redemptions(session, invite)] == [member.id]
    sources = session.scalars(
        select(ConsentEvent.source).where(ConsentEvent.member_id == member.id)
    )
    assert f"invite:{invite.id}" in list(sources)
    assert "Your membership is now: invite" in client.get("/account").get_data(as_text=True)

    other = app.test_client()  # the used link is no way into the account, and grants nothing more
    again = other.post(path, data={"csrf_token": csrf_token(other, path)})
    assert again.headers["Location"].startswith("/login") and len(redemptions(session, invite)) == 1


def test_a_known_address_gets_the_same_answer_and_a_sign_in_link_back(
    app, client, session, invite, smtp, redis
):
    known = make_member(session, email="known@example.com")
    answers = [join(app.test_client(), invite.code, email).get_data(as_text=True)
               for email in ("known@example.com", "stranger@example.com")]  # fmt: skip
    assert answers[0].replace("known", "X") == answers[1].replace("stranger", "X")
    token = session.scalar(select(LoginToken).where(LoginToken.member_id == known.id))
    assert token.next_path == f"/join/{invite.code}"
    assert redemptions(session, invite) == []  # nothing is granted before they sign in


def test_a_signed_in_member_redeems_once(client, session, invite):
    member = make_member(session)
    sign_in(client, member)
    page = client.get(f"/join/{invite.code}").get_data(as_text=True)
    assert "Redeem" in page and 'name="email"' not in page
    path = f"/join/{invite.code}/redeem"
    first = client.post(path, data={"csrf_token": csrf_token(client, f"/join/{invite.code}")})
    assert first.status_code == 302
    assert "already accepted" in client.get(f"/join/{invite.code}").get_data(as_text=True)
    client.post(path, data={"csrf_token": csrf_token(client, "/account")})
    session.expire_all()
    assert member.tier == "invite" and invite.uses == 1 and len(redemptions(session, invite)) == 1


@pytest.mark.parametrize(
    ("spoil", "status", "message"),
    [
        (lambda invite: setattr(invite, "revoked_at", utcnow()), 410, "withdrawn"),
        (
            lambda invite: setattr(invite, "expires_at", utcnow() - timedelta(days=1)),
            410,
            "expired",
        ),
        (lambda invite: setattr(invite, "uses", invite.max_uses), 410, "already been used"),
        (lambda invite: setattr(invite, "code", "gone-" + invite.code[5:]), 404, "does not exist"),
    ],
)
def test_unusable_codes_get_a_clear_page_and_nothing_changes(
    client, session, invite, spoil, status, message
):
    code = invite.code
    spoil(invite)
    session.commit()
    member = make_member(session)
    sign_in(client, member)
    token = csrf_token(client, "/account")
    redeem = client.post(f"/join/{code}/redeem", data={"csrf_token": token})
    for response in (client.get(f"/join/{code}"), redeem):
        assert response.status_code == status and message in response.get_data(as_text=True)
    session.expire_all()
    assert member.tier == "free" and redemptions(session, invite) == []


def test_guessing_codes_is_rate_limited_per_ip(client, redis):
    codes = [client.get(f"/join/guess{n:027d}").status_code for n in range(11)]
    assert codes == [404] * 10 + [429]


def test_forms_need_their_csrf_token(client, session, invite):
    response = client.post(f"/join/{invite.code}", data={"email": "nia@example.com"})
    assert response.status_code == 400
    assert session.scalar(select(Member).where(Member.email == "nia@example.com")) is None


def test_a_bad_address_is_a_clear_error(client, invite, redis):
    response = join(client, invite.code, "not an address")
    assert response.status_code == 400 and "email" in response.get_data(as_text=True).lower()


def test_a_member_invites_a_friend(client, session):
    member = make_member(session, invites_left=1)
    sign_in(client, member)
    assert "invite 1 more friend" in client.get("/invite").get_data(as_text=True)
    made = client.post("/invite", data={"csrf_token": csrf_token(client, "/invite")})
    assert made.status_code == 302
    page = client.get("/invite").get_data(as_text=True)
    link = re.search(r"Send this link to your friend: http://localhost(/join/[^\s<]+)", page).group(
        1
    )
    assert "invite 0 more friends" in page and client.get(link).status_code == 200
    again = client.post("/invite", data={"csrf_token": csrf_token(client, "/invite")})
    assert again.status_code == 302
    assert "no invitations left" in client.get("/invite").get_data(as_text=True)
