"""The headers on error responses and over HTTPS, and the flags on the cookies that hold a
session. (Every GET route's headers are checked in test_route_access, for every role.)
"""

from __future__ import annotations

import pytest

from app.members import service as members
from tests.conftest import CSRF_FIELD, make_member
from tests.security.conftest import header_problems

pytestmark = pytest.mark.usefixtures("redis")

ERRORS = {
    "a missing page": ("GET", "/no-such-page", 404),
    "a wrong method": ("DELETE", "/archive", 405),
    "an API error (JSON)": ("GET", "/api/v1/issues", 401),
    "a missing API row": ("GET", "/api/v1/nothing-here", 404),
    "a missing static file": ("GET", "/static/nothing.css", 404),
}


def test_errors_carry_the_headers_too(client, redis):
    for case, (method, path, status) in ERRORS.items():
        response = client.open(path, method=method)
        assert response.status_code == status, case
        assert header_problems(response) == [], case


def session_cookie(response, name: str = "session") -> str:
    cookies = [value for value in response.headers.getlist("Set-Cookie") if value.startswith(name)]
    assert cookies, f"no {name} cookie set"
    return cookies[0]


def test_the_session_cookie_is_httponly_and_samesite_lax_over_http(client, redis):
    cookie = session_cookie(client.get("/login"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http (a local install): a Secure cookie would be lost


HTTPS = "https://letters.example.org"
SECURE_FLAGS = ("HttpOnly", "SameSite=Lax", "Secure")


class TestOverHttps:
    @pytest.fixture
    def app_overrides(self):
        return {"base_url": HTTPS}

    def test_hsts_and_secure_cookies_when_the_site_is_https(self, app, session, redis):
        member = make_member(session, email="reader@example.org")
        client = app.test_client()
        form = client.get("/login", base_url=HTTPS)
        assert header_problems(form, https=True) == []
        assert all(flag in session_cookie(form) for flag in SECURE_FLAGS)
        # Behind a TLS proxy the app may see plain http: still HSTS, from BASE_URL.
        assert header_problems(client.get("/archive"), https=True) == []

        settings = app.extensions["kith.settings"]
        token = members.sign_login_token(settings, members.start_login(session, member))
        session.commit()
        page = client.get(f"/login/{token}", base_url=HTTPS)
        assert page.headers["Referrer-Policy"] == "no-referrer"
        page = page.get_data(as_text=True)
        csrf = CSRF_FIELD.search(page)
        # The browser sends no Referer from a no-referrer page: the form must still work.
        signed_in = client.post(
            f"/login/{token}", data={"csrf_token": csrf.group(1) or csrf.group(2)}, base_url=HTTPS
        )
        assert signed_in.status_code == 302
        remember = session_cookie(signed_in, "remember_token")
        assert all(flag in remember for flag in SECURE_FLAGS)
