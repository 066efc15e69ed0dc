"""``/admin/invites`` and ``kith invites create``: making, listing and withdrawing invitations."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.members import invites
from app.members.models import Invite, Member
from tests.conftest import csrf_token, make_member, sign_in

PAGE = "/admin/invites"


@pytest.fixture
def signed_in_editor(client, editor):
    sign_in(client, editor)
    return editor


def post(client, path: str, **data):
    return client.post(path, data={"csrf_token": csrf_token(client, PAGE), **data})


def test_only_editors_see_invitations(client, session):
    assert client.get(PAGE).status_code == 302
    sign_in(client, make_member(session))
    assert client.get(PAGE).status_code == 403


def test_an_editor_creates_lists_and_revokes(client, session, signed_in_editor):
    made = post(client, PAGE, tier="invite", max_uses="2", expires="2099-01-01", tags="vip, early")
    assert made.status_code == 302
    invite = session.scalar(select(Invite))
    assert (invite.max_uses, invite.tags) == (2, ["early", "vip"])
    page = client.get(PAGE).get_data(as_text=True)
    assert f'href="http://localhost/join/{invite.code}"' in page and "0 / 2" in page
    assert "2099-01-01 00:00 UTC" in page and "active" in page

    assert post(client, f"{PAGE}/{invite.id}/revoke").status_code == 302
    session.expire_all()
    assert invite.revoked_at is not None and "revoked" in client.get(PAGE).get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tier": "invite", "expires": "soon"}, "ISO 8601"),
        ({"tier": "invite", "expires": "2001-01-01"}, "in the future"),
        ({"tier": "invite", "max_uses": "0"}, "Number must be"),
        ({"tier": "gold"}, "Not a valid choice"),
    ],
)
def test_bad_input_is_a_clear_error_and_creates_nothing(
    client, session, signed_in_editor, data, message
):
    response = post(client, PAGE, **data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert session.scalars(select(Invite)).all() == []


def test_redemptions_list_who_and_when(client, session, signed_in_editor):
    invite = invites.create(session)
    member = make_member(session, email="guest@example.com")
    invites.redeem(session, invite.code, member, "198.51.100.7")
    session.commit()
    assert ">1</a>" in client.get(PAGE).get_data(as_text=True)
    page = client.get(f"{PAGE}/{invite.id}").get_data(as_text=True)
    assert "guest@example.com" in page and "198.51.100.7" in page
    assert client.get(f"{PAGE}/99999").status_code == 302
    assert post(client, f"{PAGE}/99999/revoke").status_code == 302


def test_an_editor_lets_a_member_invite_friends(client, session, signed_in_editor):
    member = make_member(session, email="friendly@example.com")
    assert post(client, f"{PAGE}/friends", email=member.email, count="4").status_code == 302
    session.expire_all()
    assert session.get(Member, member.id).invites_left == 4
    unknown = post(client, f"{PAGE}/friends", email="nobody@example.com", count="4")
    assert unknown.status_code == 400 and "No member" in unknown.get_data(as_text=True)


def test_cli_prints_a_working_join_link(app, client, session):
    runner = app.test_cli_runner()
    args = ["--uses", "5", "--tag", "cli", "--expires", "2099-06-01T12:00+02:00"]
    result = runner.invoke(args=["invites", "create", *args])
    assert result.exit_code == 0, result.output
    link = result.output.strip()
    invite = session.scalar(select(Invite))
    assert link == f"http://localhost/join/{invite.code}"
    assert (invite.tier, invite.max_uses, invite.tags) == ("invite", 5, ["cli"])
    assert invite.expires_at.hour == 10
    assert client.get(link.removeprefix("http://localhost")).status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--expires", "someday"], "ISO 8601"),
        (["--uses", "0"], "at least one use"),
        (["--tier", "gold"], "Invalid value"),
    ],
)
def test_cli_bad_input_is_one_clear_line(app, session, args, message):
    result = app.test_cli_runner().invoke(args=["invites", "create", *args])
    assert result.exit_code != 0 and message in result.output
    assert session.scalars(select(Invite)).all() == []
