"""Who may call the API: bearer tokens only, of live editors, in their scope, at a limited rate;
and tokens themselves: shown once, kept only as a hash."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.api import tokens
from app.api.models import ApiToken
from app.db import utcnow
from app.migrations import all_models
from tests.api.conftest import Api, error_of, make_token
from tests.conftest import make_member, sign_in


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, None),
        ("Basic ZWRpdG9yOnB3", None),
        ("Bearer ", None),
        ("Bearer kith_thisTokenWasNeverMadeByKithAtAllxxxxxxxxxxxx", "Unknown API token."),
        ("Bearer sk_live_not_ours", "That is not a Kith API token."),
    ],
)
def test_a_missing_or_unknown_token_is_401_with_a_bearer_challenge(client, editor, header, reason):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/members", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="kith"')
    error = error_of(response)
    assert error["code"] == "unauthorized"
    if reason:
        assert error["message"] == reason
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_revoked_token_is_refused_at_once(api, session, write_token):
    assert api.get("/members").status_code == 200
    token = session.scalar(select(ApiToken))
    tokens.revoke(session, token.id)
    session.commit()
    response = api.get("/members")
    assert response.status_code == 401
    assert error_of(response)["message"] == "This API token was revoked."


def test_a_demoted_editors_token_stops_working(api, session, editor):
    editor.role = "member"
    session.commit()
    response = api.get("/issues")
    assert response.status_code == 401
    assert "no longer an editor" in error_of(response)["message"]


def test_a_deleted_editors_tokens_go_with_them(api, session, editor):
    session.delete(editor)
    session.commit()
    assert session.scalars(select(ApiToken)).all() == []
    assert api.get("/issues").status_code == 401


def test_only_editors_can_own_tokens(session):
    member = make_member(session, tier="paid")
    with pytest.raises(tokens.TokenError, match="not an editor"):
        tokens.create(session, member, name="mine", scope="read")


def test_a_read_token_reads_but_may_not_write(reader, editor):
    assert reader.get("/members").status_code == 200
    assert reader.post("/segments/count", json={"expression": "all"}).status_code == 200
    refused = reader.post("/members", json={"email": "new@example.com"})
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "forbidden"
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert reader.patch(f"/members/{editor.id}", json={"name": "X"}).status_code == 403
    assert reader.delete(f"/members/{editor.id}/tags/x").status_code == 403


def test_the_session_cookie_is_not_a_credential(app, editor):
    browser = app.test_client()
    sign_in(browser, editor)
    assert browser.get("/admin/issues").status_code == 200  # signed in, for pages
    response = browser.get("/api/v1/members")
    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers


def test_no_csrf_token_is_needed_with_a_bearer_token(api):
    response = api.post("/members", json={"email": "nocsrf@example.com"})
    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers


def test_a_new_token_looks_like_one_and_only_its_hash_is_stored(session, editor):
    made = tokens.create(session, editor, name="  CRM   sync ", scope="write")
    session.commit()
    assert made.secret.startswith("kith_") and len(made.secret) == 48
    assert made.token.name == "CRM sync"
    assert made.token.prefix == made.secret[:11]
    assert made.token.token_hash == tokens.hash_secret(made.secret) != made.secret
    for table in all_models().sorted_tables:
        for row in session.execute(select(table)):
            assert made.secret not in repr(tuple(row)), table.name
    assert tokens.authenticate(session, made.secret).id == made.token.id


@pytest.mark.parametrize(
    ("name", "scope", "message"),
    [("", "read", "a name"), ("x" * 101, "read", "a name"), ("ok", "admin", "scope")],
)
def test_a_token_needs_a_name_and_a_known_scope(session, editor, name, scope, message):
    with pytest.raises(tokens.TokenError, match=message):
        tokens.create(session, editor, name=name, scope=scope)


def test_last_used_is_recorded_at_most_once_a_minute(api, session):
    token = session.scalar(select(ApiToken))
    assert token.last_used_at is None
    api.get("/issues")
    session.refresh(token)
    first = token.last_used_at
    assert first is not None
    api.get("/issues")
    session.refresh(token)
    assert token.last_used_at == first
    token.last_used_at = first - timedelta(minutes=2)
    session.commit()
    api.get("/issues")
    session.refresh(token)
    assert token.last_used_at > first
    assert token.last_used_at >= utcnow() - timedelta(seconds=30)


@pytest.mark.parametrize("app_overrides", [{"API_RATE_LIMIT": "3 per minute"}])
def test_each_token_has_its_own_rate_limit(app, api, session, editor):
    other = Api(app.test_client(use_cookies=False), make_token(session, editor, name="other"))
    for _ in range(3):
        assert api.get("/issues").status_code == 200
    limited = api.get("/issues")
    assert limited.status_code == 429
    assert error_of(limited)["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0
    assert other.get("/issues").status_code == 200
