"""Sign-in links: signed, expiring, single-use; and the editor account they open."""

from __future__ import annotations

from datetime import timedelta

import itsdangerous.timed
import pytest

from app.members import service
from app.members.models import LoginToken
from tests.conftest import make_member


@pytest.fixture
def settings(app):
    return app.extensions["kith.settings"]


def signed_link_token(session, settings, member) -> str:
    return service.sign_login_token(settings, service.start_login(session, member))


def test_a_link_signs_in_exactly_once(session, settings):
    member = make_member(session)
    token = signed_link_token(session, settings, member)
    assert service.peek_login(session, settings, token).id == member.id  # a GET does not consume
    assert service.consume_login(session, settings, token).member.id == member.id
    with pytest.raises(service.LoginLinkError, match="already been used"):
        service.consume_login(session, settings, token)


def test_an_old_token_row_has_expired_even_if_the_signature_is_fresh(session, settings):
    member = make_member(session)
    login = service.start_login(session, member)
    login.created_at -= timedelta(seconds=settings.login_link_max_age + 1)
    session.flush()
    with pytest.raises(service.LoginLinkError, match="expired"):
        service.consume_login(session, settings, service.sign_login_token(settings, login))


def test_an_expired_signature_is_refused(session, settings, monkeypatch):
    member = make_member(session)
    token = signed_link_token(session, settings, member)
    later = itsdangerous.timed.time.time() + settings.login_link_max_age + 5
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: later)
    with pytest.raises(service.LoginLinkError, match="expired"):
        service.consume_login(session, settings, token)


@pytest.mark.parametrize("garbage", ["", "abc", "eyJuIjoiZm9vIn0.AAAAAA.BBBB", "x" * 500])
def test_forged_or_garbled_tokens_are_refused(session, settings, garbage):
    with pytest.raises(service.LoginLinkError, match="not valid"):
        service.consume_login(session, settings, garbage)


def test_a_token_signed_with_another_key_is_refused(session, settings):
    member = make_member(session)
    login = service.start_login(session, member)
    forged = itsdangerous.URLSafeTimedSerializer("other-key", salt=service.LOGIN_SALT).dumps(
        {"n": login.nonce, "m": member.id}
    )
    with pytest.raises(service.LoginLinkError, match="not valid"):
        service.consume_login(session, settings, forged)
    assert session.get(LoginToken, login.nonce).used_at is None


def test_unconfirmed_and_unknown_addresses_get_no_link(session):
    make_member(session, email="pending@example.com", status="pending")
    assert service.request_login(session, "pending@example.com") is None
    assert service.request_login(session, "nobody@example.com") is None
    assert service.request_login(session, "not-an-address") is None


def test_members_who_unsubscribed_from_bulk_mail_can_still_sign_in(session):
    make_member(session, email="quiet@example.com", status="unsubscribed")
    assert service.request_login(session, "quiet@example.com") is not None


def test_create_editor_normalizes_and_is_idempotent(session):
    first = service.create_editor(session, "  Edith@Example.COM ")
    second = service.create_editor(session, "edith@example.com")
    assert first.id == second.id and first.email == "edith@example.com" and first.is_editor
    with pytest.raises(service.InvalidEmail):
        service.create_editor(session, "edith@")
