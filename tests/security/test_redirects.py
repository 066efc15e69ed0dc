"""No open redirect (A9): whatever ``next`` says, sign-in and the moderation buttons land on a
path of this site.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.members import service as members
from app.members.models import LoginToken
from app.web.security import safe_next
from tests.conftest import csrf_token, make_member, sign_in

pytestmark = pytest.mark.usefixtures("redis")

HOSTILE = [
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https:evil.example",
    "https://evil.example/",
    "%2F%2Fevil.example",
    "/%2F%2Fevil.example",  # a path here: %2F is not a slash to a browser's URL parser
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " //evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "http://localhost@evil.example",
    "///evil.example",
    "data:text/html,hi",
]


def same_origin_path(location: str) -> bool:
    """A Location a browser resolves to this site: a plain path, or a URL on our host."""
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        return parts.scheme in ("http", "https") and parts.netloc == "localhost"
    return location.startswith("/") and location[1:2] not in ("/", "\\")


@pytest.mark.parametrize("target", HOSTILE)
def test_safe_next_keeps_only_paths_of_this_site(target):
    kept = safe_next(target)
    assert kept is None or same_origin_path(kept), kept


def sign_in_with_next(app, session, number: int, target: str) -> str:
    """Ask for a link from /login?next=target, use it, and return where it lands. Each from
    its own address and IP, under the sign-in rate limits."""
    reader = make_member(session, email=f"reader{number}@example.org")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"10.0.0.{number}"
    form = {"csrf_token": csrf_token(client, "/login"), "email": reader.email}
    assert client.post("/login", query_string={"next": target}, data=form).status_code == 200
    login = session.scalars(select(LoginToken).where(LoginToken.member_id == reader.id)).one()
    token = members.sign_login_token(app.extensions["kith.settings"], login)
    path = f"/login/{token}"
    landed = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert landed.status_code == 302
    return landed.headers["Location"]


def test_sign_in_lands_on_this_site_whatever_next_says(app, session):
    landed = {
        target: sign_in_with_next(app, session, number, target)
        for number, target in enumerate(HOSTILE, start=1)
    }
    assert all(map(same_origin_path, landed.values())), landed
    assert sign_in_with_next(app, session, 99, "/forum?page=2") == "/forum?page=2"


def test_moderation_buttons_go_back_only_to_admin_pages(app, session):
    editor = make_member(session, email="editor@example.org", role="editor")
    later = datetime.now(UTC) + timedelta(days=1)
    member = make_member(session, email="someone@example.org", posting_suspended_until=later)
    client = app.test_client()
    sign_in(client, editor)
    token = csrf_token(client, "/admin/moderation")
    for target in HOSTILE:
        session.refresh(member)
        member.posting_suspended_until = later
        session.commit()
        form = {"csrf_token": token, "next": target}
        answer = client.post(f"/admin/moderation/members/{member.id}/lift", data=form)
        assert answer.status_code == 303, answer.get_data(as_text=True)[-600:]
        assert answer.headers["Location"] == "/admin/moderation", target
