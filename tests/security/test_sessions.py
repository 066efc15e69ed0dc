"""Sessions end when they should (A7): after sign-out, an email change or account deletion a
copied cookie no longer signs anyone in, and sign-in never keeps a session made before it.
Flask's session lives in a signed cookie, so "ending" one means the member's session version
(in Member.get_id) moved on.
"""

from __future__ import annotations

import pytest

from app.members import accounts
from app.members import service as members
from tests.conftest import csrf_token, make_member

pytestmark = pytest.mark.usefixtures("redis")
COOKIES = ("session", "remember_token")


def login_path(app, session, member) -> str:
    """The path of a fresh magic link for ``member``."""
    settings = app.extensions["kith.settings"]
    token = members.sign_login_token(settings, members.start_login(session, member))
    session.commit()
    return f"/login/{token}"


def signed_in_client(app, session, member):
    """A browser that signed in through the real magic-link form (remember cookie included)."""
    client, path = app.test_client(), login_path(app, session, member)
    assert client.post(path, data={"csrf_token": csrf_token(client, path)}).status_code == 302
    assert client.get("/account").status_code == 200
    return client


def copied(app, client, names=COOKIES):
    """Another browser holding a copy of ``client``'s cookies, as a thief would."""
    thief = app.test_client()
    for name in names:
        cookie = client.get_cookie(name)
        if cookie is not None:
            thief.set_cookie(name, cookie.value)
    return thief


@pytest.fixture
def reader(session):
    return make_member(session, email="reader@example.org", tier="paid")


@pytest.mark.parametrize("names", [COOKIES, ("session",), ("remember_token",)], ids="+".join)
def test_sign_out_ends_every_copy_of_the_session(app, session, reader, names):
    client = signed_in_client(app, session, reader)
    thief = copied(app, client, names)
    assert thief.get("/account").status_code == 200  # the copy works while the session lives
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    assert client.get("/account").status_code == 302
    assert thief.get("/account").status_code == 302


def test_an_email_change_ends_other_sessions_but_not_the_confirming_one(app, session, reader):
    elsewhere = signed_in_client(app, session, reader)
    here = signed_in_client(app, session, reader)
    accounts.request_email_change(session, reader, "new-address@example.org")
    session.commit()
    token = accounts.email_change_url(app.extensions["kith.settings"], reader).rsplit("/", 1)[1]
    path = f"/account/email/{token}"
    confirmed = here.post(path, data={"csrf_token": csrf_token(here, path)})
    assert confirmed.status_code == 302
    assert here.get("/account").status_code == 200
    assert elsewhere.get("/account").status_code == 302


def test_a_deleted_account_s_cookie_signs_in_nobody_not_even_a_new_member(app, session, reader):
    client = signed_in_client(app, session, reader)
    thief = copied(app, client)
    form = {"csrf_token": csrf_token(client, "/account"), "confirm_email": reader.email}
    assert client.post("/account/delete", data=form).status_code == 302
    make_member(session, email="next-in-line@example.org")  # might it inherit the old id?
    assert thief.get("/account").status_code == 302
    assert client.get("/account").status_code == 302


def test_sign_in_rotates_the_session_made_before_it(app, session, reader):
    client, path = app.test_client(), login_path(app, session, reader)
    form = {"csrf_token": csrf_token(client, path)}
    with client.session_transaction() as planted:  # what an attacker fixed before sign-in
        planted["planted"] = "by someone else"
    before = client.get_cookie("session").value
    assert client.post(path, data=form).status_code == 302
    with client.session_transaction() as now:
        assert "planted" not in now and now["_user_id"] == reader.get_id()
    assert client.get_cookie("session").value != before
    # The fixed cookie itself stays anonymous.
    fixed = app.test_client()
    fixed.set_cookie("session", before)
    assert fixed.get("/account").status_code == 302
