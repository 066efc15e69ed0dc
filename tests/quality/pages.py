"""Walk every GET route of the app as anonymous, member and editor, and keep the HTML pages."""

from __future__ import annotations

import hashlib
import re

from flask import Flask, url_for

from app.members import invites, subscriptions
from tests.conftest import csrf_token, sign_in
from tests.quality.seed import Seeded

SKIPPED = {"static", "accounts.export"}  # files and a JSON download, not pages


def _arguments(app: Flask, seeded: Seeded) -> tuple[dict[str, object], dict[str, dict]]:
    """URL values by argument name, and the endpoints that need other ones: real seeded rows
    where there are some, or a wrong value, which renders that route's "not found" or
    "invalid link" page."""
    settings = app.extensions["kith.settings"]

    def token(url: str) -> str:
        return url.rsplit("/", 1)[1]

    by_name = {
        "slug": seeded.paid_slug, "ref": seeded.slug, "code": seeded.invite.code,
        "thread_id": seeded.thread.id, "post_id": seeded.post.id, "issue_id": seeded.issue_id,
        "send_id": seeded.send_id, "board_id": seeded.board.id, "member_id": seeded.member.id,
        "invite_id": seeded.invite.id, "endpoint_id": seeded.endpoint_id,
        "delivery_id": 999999, "key": "no-such-message", "token": "not-a-token",
        "choice": 1, "position": 1,
    }  # fmt: skip
    by_endpoint = {
        "forum.board": {"slug": seeded.board.slug},
        "forum.new_topic": {"slug": seeded.board.slug},
        "subscriptions.unsubscribe_page": {
            "token": token(subscriptions.unsubscribe_url(settings, seeded.member))
        },
        "invites.confirm_page": {
            "token": token(invites.confirm_url(settings, seeded.member, seeded.invite))
        },
    }
    return by_name, by_endpoint


def paths(app: Flask, seeded: Seeded) -> list[str]:
    """One path per GET route, plus error pages and a search with results."""
    by_name, by_endpoint = _arguments(app, seeded)
    found = ["/no-such-page", "/search?q=bread", "/forum/search?q=rose", "/archive?page=99"]
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods or rule.endpoint in SKIPPED:
                continue
            values = by_name | by_endpoint.get(rule.endpoint, {})
            if rule.arguments - set(values):
                raise AssertionError(f"no sample URL value for {rule.endpoint} {rule.rule}")
            values = {name: values[name] for name in rule.arguments}
            found.append(url_for(rule.endpoint, **values))
    return found


def invalid_forms(seeded: Seeded) -> list[tuple[str, str, dict[str, str]]]:
    """(role, path, data) of forms sent wrong, to check the pages that show form errors; each
    is posted with the CSRF token of the form at ``path`` (``/account`` for account forms)."""
    board, send = f"/forum/{seeded.board.slug}/new", f"/admin/issues/{seeded.issue_id}/send"
    return [
        ("anonymous", "/login", {"email": ""}),
        ("member", "/account/email", {"email": "not an address"}),
        ("member", board, {"title": "", "body_markdown": ""}),
        ("editor", "/admin/issues/new", {"title": "", "body_markdown": ""}),
        ("editor", "/admin/members/new", {"email": "nope"}),
        ("editor", "/admin/boards", {"slug": "Not a slug!", "name": ""}),
        ("editor", "/admin/invites", {"max_uses": "-1", "expires": "someday"}),
        ("editor", "/admin/webhooks", {"url": "ftp://example.org"}),
        ("editor", "/admin/api-tokens", {"name": "", "scope": "everything"}),
        ("editor", "/admin/segments", {"name": "Gold", "expression": "tier:gold"}),
        ("editor", send, {"expression": "tier:gold", "confirm": "y"}),
        ("editor", "/admin/settings", {"name": "x" * 201}),
    ]


def _invalid_form_pages(app: Flask, clients: dict, seeded: Seeded) -> dict[str, str]:
    pages, accepted = {}, []
    for role, path, data in invalid_forms(seeded):
        client = clients[role]
        form_page = "/account" if path.startswith("/account/") else path
        response = client.post(path, data=data | {"csrf_token": csrf_token(client, form_page)})
        if not 400 <= response.status_code < 500:
            accepted.append(f"{role} POST {path}: {response.status_code}")
        pages[f"{role} POST {path} ({response.status_code})"] = response.get_data(as_text=True)
    assert not accepted, f"bad input not refused with a 4xx: {accepted}"
    no_token = clients["anonymous"].post("/login", data={"email": "a@example.com"})
    pages[f"anonymous POST /login without a CSRF token ({no_token.status_code})"] = (
        no_token.get_data(as_text=True)
    )
    return pages


def collect(app: Flask, seeded: Seeded) -> dict[str, str]:
    """``{"role GET /path (status)": html}`` for every distinct HTML page each role gets
    (redirects are not pages: their target is visited in its own right)."""
    pages: dict[str, str] = {}
    seen: set[str] = set()
    every_path = paths(app, seeded)
    clients = {}
    for role, member in (("anonymous", None), ("member", seeded.member), ("editor", seeded.editor)):
        client = clients[role] = app.test_client()
        if member is not None:
            sign_in(client, member)
        for path in every_path:
            response = client.get(path)
            assert response.status_code < 500, f"{role} GET {path}: {response.status_code}"
            if response.mimetype != "text/html" or 300 <= response.status_code < 400:
                continue
            html = response.get_data(as_text=True)
            digest = hashlib.sha256(re.sub(r'value="[^"]*"', "", html).encode()).hexdigest()
            if digest not in seen:
                seen.add(digest)
                pages[f"{role} GET {path} ({response.status_code})"] = html
    return pages | _invalid_form_pages(app, clients, seeded)
