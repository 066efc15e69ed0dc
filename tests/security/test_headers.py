"""The headers every response carries (pages, JSON, errors, static files), and the flags on
the cookies that hold a session.
"""

from __future__ import annotations

import pytest

from app.members import service as members
from tests.conftest import CSRF_FIELD, make_member
from tests.security.conftest import client_as
from tests.security.routes import GET_ROUTES

pytestmark = pytest.mark.usefixtures("redis")

# Pages whose URL holds a secret: the browser must not send it on in a Referer.
TOKEN_RULES = {rule for rule in GET_ROUTES if "<token>" in rule or "<code>" in rule}


def header_problems(response, *, https: bool = False) -> list[str]:
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    problems = []
    if not csp or "unsafe-inline" in csp or "unsafe-eval" in csp:
        problems.append(f"CSP {csp!r}")
    if "frame-ancestors 'none'" not in csp and headers.get("X-Frame-Options") != "DENY":
        problems.append("may be framed")
    if headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("no nosniff")
    if not headers.get("Referrer-Policy"):
        problems.append("no Referrer-Policy")
    if ("Strict-Transport-Security" in headers) != https:
        problems.append(f"HSTS {headers.get('Strict-Transport-Security')!r} with https={https}")
    return problems


@pytest.mark.parametrize("role", ["anonymous", "editor"])
def test_every_get_route_sends_the_security_headers(app, world, role):
    client = client_as(app, world, role)
    wrong = []
    for rule, (template, _) in GET_ROUTES.items():
        path = template.format(**world.values)
        response = client.get(path)
        response.close()
        problems = header_problems(response)
        if rule in TOKEN_RULES and response.headers.get("Referrer-Policy") != "no-referrer":
            problems.append(f"Referrer-Policy {response.headers.get('Referrer-Policy')!r}")
        wrong += [f"{path} ({response.status_code}): {problem}" for problem in problems]
    assert not wrong, "\n".join(wrong)


ERRORS = {
    "a missing page": ("GET", "/no-such-page", 404),
    "a wrong method": ("DELETE", "/archive", 405),
    "an API error (JSON)": ("GET", "/api/v1/issues", 401),
    "a missing API row": ("GET", "/api/v1/nothing-here", 404),
    "a missing static file": ("GET", "/static/nothing.css", 404),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_carry_the_headers_too(client, redis, case):
    method, path, status = ERRORS[case]
    response = client.open(path, method=method)
    assert response.status_code == status
    assert header_problems(response) == []


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
