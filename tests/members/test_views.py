"""Magic-link sign-in on the web; the email goes through a real RQ worker to a real SMTP server."""

from __future__ import annotations

import re

import pytest

from tests.conftest import csrf_token, make_member, run_jobs

LINK = re.compile(r"http://localhost(/login/\S+)")


def request_link(client, email: str):
    return client.post("/login", data={"email": email, "csrf_token": csrf_token(client, "/login")})


def mailed_link(smtp) -> str:
    message = smtp.received[-1].message
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    path = LINK.search(text).group(1)
    assert path in html
    return path


def test_editor_signs_in_with_an_emailed_link(app, client, session, editor, smtp, redis):
    response = request_link(client, "Editor@Example.com")
    assert response.status_code == 200 and "Check your inbox" in response.get_data(as_text=True)
    assert smtp.received == []  # the web request only queues the email
    run_jobs(app)
    assert len(smtp.received) == 1
    received = smtp.received[0]
    assert received.recipients == ["editor@example.com"]
    assert received.message["Subject"] == "Your sign-in link for The Test Letter"
    path = mailed_link(smtp)

    confirm = client.get(path)  # what a mail scanner would do: it must not consume the link
    assert confirm.status_code == 200 and "editor@example.com" in confirm.get_data(as_text=True)
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', confirm.get_data(as_text=True)
    )
    signed_in = client.post(path, data={"csrf_token": token.group(1)})
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/admin/issues"
    assert client.get("/admin/issues").status_code == 200

    other = app.test_client()  # the same link from another browser no longer works
    reuse = other.get(path)
    assert reuse.status_code == 400 and "already been used" in reuse.get_data(as_text=True)


def test_reused_link_says_so(app, client, session, editor, smtp, redis):
    request_link(client, editor.email)
    run_jobs(app)
    path = mailed_link(smtp)
    client.post(path, data={"csrf_token": csrf_token(client, path)})
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    again = client.get(path)
    assert again.status_code == 400 and "already been used" in again.get_data(as_text=True)


@pytest.mark.parametrize("email", ["stranger@example.com", "not an email", "pending@example.com"])
def test_unknown_or_inactive_addresses_get_the_same_answer_and_no_mail(
    app, client, session, smtp, redis, email
):
    make_member(session, email="pending@example.com", status="pending")
    response = request_link(client, email)
    assert response.status_code == 200 and "Check your inbox" in response.get_data(as_text=True)
    run_jobs(app)
    assert smtp.received == []


def test_login_post_without_csrf_is_refused(client, editor, redis):
    response = client.post("/login", data={"email": editor.email})
    assert response.status_code == 400 and "form expired" in response.get_data(as_text=True)


def test_garbled_link_shows_a_clear_page(client):
    response = client.get("/login/not-a-real-token")
    assert response.status_code == 400 and "not valid" in response.get_data(as_text=True)


def test_sign_in_returns_to_the_page_that_asked_for_it(app, client, session, editor, smtp, redis):
    assert (
        client.get("/admin/members?q=x").headers["Location"] == "/login?next=/admin/members?q%3Dx"
    )
    token = csrf_token(client, "/login")
    client.post(
        "/login?next=/admin/members?q%3Dx", data={"email": editor.email, "csrf_token": token}
    )
    run_jobs(app)
    path = mailed_link(smtp)
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert response.headers["Location"] == "/admin/members?q=x"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example", "/ok\r\nSet-Cookie: x=1"]
)
def test_next_parameter_cannot_redirect_off_site(app, client, session, editor, smtp, redis, target):
    token = csrf_token(client, "/login")
    client.post(
        "/login", query_string={"next": target}, data={"email": editor.email, "csrf_token": token}
    )
    run_jobs(app)
    path = mailed_link(smtp)
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert response.headers["Location"] == "/admin/issues"


def test_login_is_rate_limited_per_address(client, editor, redis):
    token = csrf_token(client, "/login")
    codes = [
        client.post("/login", data={"email": editor.email, "csrf_token": token}).status_code
        for _ in range(12)
    ]
    assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}  # five links an hour per address


DOWN = "redis://127.0.0.1:1/0"


@pytest.mark.parametrize("app_overrides", [{"redis_url": DOWN, "RATELIMIT_STORAGE_URI": DOWN}])
def test_when_redis_is_down_everyone_gets_the_same_retry_answer(app, client, editor):
    """Rate limits fall back to memory and the answer does not depend on the address."""
    known = request_link(client, editor.email)
    unknown = request_link(client, "stranger@example.com")
    assert known.status_code == unknown.status_code == 503
    assert "try again" in known.get_data(as_text=True)

    def page(response, email):
        return re.sub(
            r'csrf_token" type="hidden" value="[^"]+"', "", response.get_data(as_text=True)
        ).replace(email, "X")

    assert page(known, editor.email) == page(unknown, "stranger@example.com")


def test_safe_next_only_follows_same_site_paths():
    from app.web.security import safe_next

    assert safe_next("/admin/issues?x=1") == "/admin/issues?x=1"
    hostile_targets = (
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "evil",
        "",
        None,
        "/a\r\nb",
        "/a b",
    )
    for hostile in hostile_targets:
        assert safe_next(hostile) is None


def test_login_is_rate_limited_per_ip(client, editor, redis):
    token = csrf_token(client, "/login")
    codes = [
        client.post(
            "/login", data={"email": f"person{n}@example.com", "csrf_token": token}
        ).status_code
        for n in range(11)
    ]
    assert codes[:10] == [200] * 10 and codes[10] == 429
