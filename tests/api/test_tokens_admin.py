"""``/admin/api-tokens`` and ``kith api-token create``: tokens are made (and shown) once,
listed without their secret, and revoked; every form needs its CSRF token."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.api import tokens
from app.api.models import ApiToken
from tests.api.conftest import API
from tests.conftest import csrf_token, make_member, sign_in

PAGE = "/admin/api-tokens"
SHOWN = re.compile(r'id="new-token" type="text" readonly value="(kith_[\w-]+)"')


@pytest.fixture
def browser(client, editor):
    sign_in(client, editor)
    return client


def test_only_editors_reach_the_page(client, session):
    assert client.get(PAGE).status_code == 302
    sign_in(client, make_member(session))
    assert client.get(PAGE).status_code == 403
    data = {"csrf_token": csrf_token(client, "/account"), "name": "x", "scope": "write"}
    assert client.post(PAGE, data=data).status_code == 403
    assert session.scalars(select(ApiToken)).all() == []


def test_the_nav_links_to_the_page(browser):
    assert f'href="{PAGE}">API tokens</a>' in browser.get("/admin/issues").get_data(as_text=True)


def test_a_token_is_made_shown_once_and_works(app, browser, session, editor):
    made = browser.post(
        PAGE, data={"csrf_token": csrf_token(browser, PAGE), "name": "CRM sync", "scope": "write"}
    )
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    secret = SHOWN.search(made.get_data(as_text=True)).group(1)
    token = session.scalar(select(ApiToken))
    assert (token.name, token.scope, token.editor_id) == ("CRM sync", "write", editor.id)
    assert token.token_hash == tokens.hash_secret(secret)
    listed = browser.get(PAGE).get_data(as_text=True)
    assert secret not in listed and f"{token.prefix}…" in listed and "CRM sync" in listed
    with browser.session_transaction() as cookie_session:  # never flashed into the cookie
        assert secret not in repr(dict(cookie_session))
    program = app.test_client(use_cookies=False)
    answer = program.get(f"{API}/issues", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200


def test_a_token_is_revoked_from_the_page(app, browser, session, editor):
    secret = tokens.create(session, editor, name="old", scope="read").secret
    session.commit()
    token = session.scalar(select(ApiToken))
    revoked = browser.post(
        f"{PAGE}/{token.id}/revoke", data={"csrf_token": csrf_token(browser, PAGE)}
    )
    assert revoked.status_code == 302
    page = browser.get(PAGE).get_data(as_text=True)
    assert "is revoked" in page and "revoked 20" in page
    session.refresh(token)
    assert token.revoked_at is not None
    program = app.test_client(use_cookies=False)
    answer = program.get(f"{API}/issues", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 401


def test_forms_without_their_csrf_token_change_nothing(browser, session, editor):
    tokens.create(session, editor, name="keep", scope="read")
    session.commit()
    token = session.scalar(select(ApiToken))
    assert browser.post(PAGE, data={"name": "sneaky", "scope": "write"}).status_code == 400
    assert browser.post(f"{PAGE}/{token.id}/revoke").status_code == 400
    session.refresh(token)
    assert token.revoked_at is None
    assert session.scalars(select(ApiToken.name)).all() == ["keep"]


@pytest.mark.parametrize(
    ("data", "message"), [({"name": "", "scope": "read"}, "This field is required"),
                          ({"name": "x", "scope": "admin"}, "Not a valid choice")],
)  # fmt: skip
def test_bad_input_is_a_clear_error(browser, session, data, message):
    response = browser.post(PAGE, data={"csrf_token": csrf_token(browser, PAGE), **data})
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert session.scalars(select(ApiToken)).all() == []


def test_revoking_an_unknown_token_says_so(browser):
    response = browser.post(f"{PAGE}/999/revoke", data={"csrf_token": csrf_token(browser, PAGE)})
    assert response.status_code == 302
    assert "no such API token" in browser.get(PAGE).get_data(as_text=True)


# --- kith api-token create ----------------------------------------------------------------


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["api-token", "create", *args])


def test_the_cli_prints_a_working_token_once(app, session, editor):
    result = run(app, "--name", "backup", "--scope", "read")
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith("kith_") and "\n" not in secret
    assert "not shown again" in result.stderr and secret not in result.stderr
    token = session.scalar(select(ApiToken))
    assert (token.name, token.scope, token.editor_id) == ("backup", "read", editor.id)
    answer = app.test_client(use_cookies=False).get(
        f"{API}/members", headers={"Authorization": f"Bearer {secret}"}
    )
    assert answer.status_code == 200


def test_the_cli_names_the_owner_when_there_are_several_editors(app, session, editor):
    other = make_member(session, email="second@example.com", role="editor")
    refused = run(app, "--name", "n", "--scope", "write")
    assert refused.exit_code == 1 and "several editors" in refused.output
    chosen = run(app, "--name", "n", "--scope", "write", "--editor", "Second@Example.com")
    assert chosen.exit_code == 0
    assert session.scalar(select(ApiToken.editor_id)) == other.id


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "n", "--scope", "write", "--editor", "member@example.com"], "not an editor"),
        (["--name", "n", "--scope", "write", "--editor", "nobody@example.com"], "not an editor"),
        (["--name", "n", "--scope", "admin"], "'admin' is not one of"),
        (["--name", "", "--scope", "read"], "a name of 1 to 100"),
        (["--scope", "read"], "Missing option '--name'"),
    ],
)
def test_the_cli_refuses_bad_input_in_one_line(app, session, editor, args, message):
    make_member(session, email="member@example.com")
    result = run(app, *args)
    assert result.exit_code != 0 and message in result.output
    assert session.scalars(select(ApiToken)).all() == []


def test_the_cli_needs_an_editor_to_exist(app, session):
    result = run(app, "--name", "n", "--scope", "read")
    assert result.exit_code == 1 and "no editor yet" in result.output
