"""Walk every GET route of the app as anonymous, member and editor, and keep the HTML pages."""

from __future__ import annotations

import hashlib
import re

from flask import Flask, url_for

from app.members import invites, subscriptions
from tests.conftest import sign_in
from tests.quality.seed import Seeded

SKIPPED = {"static", "accounts.export"}  # files and a JSON download, not pages


def _arguments(app: Flask, seeded: Seeded) -> dict[str, dict]:
    """The URL values each endpoint with arguments gets: real seeded rows where there are
    some, or a wrong value, which renders that route's "not found"/"invalid link" page."""
    settings = app.extensions["kith.settings"]
    invite = seeded.invite.code

    def token(url: str) -> str:
        return url.rsplit("/", 1)[1]

    unsubscribe = token(subscriptions.unsubscribe_url(settings, seeded.member))
    return {
        "issues.show": {"slug": seeded.paid_slug},
        "forum.board": {"slug": seeded.board.slug},
        "forum.new_topic": {"slug": seeded.board.slug},
        "insights.issue_report": {"slug": seeded.paid_slug},
        "discussions.thread_page": {"thread_id": seeded.thread.id},
        "discussions.edit_post": {"post_id": seeded.post.id},
        "feedback.answer": {"post_id": seeded.post.id},
        "moderation.confirm_delete": {"post_id": seeded.post.id},
        "admin.edit_issue": {"issue_id": seeded.issue_id},
        "sends.send_dialog": {"issue_id": seeded.issue_id},
        "sends.progress_page": {"send_id": seeded.send_id},
        "admin_boards.edit": {"board_id": seeded.board.id},
        "admin_boards.delete": {"board_id": seeded.board.id},
        "admin_invites.redemptions": {"invite_id": seeded.invite.id},
        "audience.member": {"member_id": seeded.member.id},
        "admin_webhooks.endpoint": {"endpoint_id": seeded.endpoint_id},
        "admin_webhooks.delivery": {"delivery_id": 999999},
        "admin.outbox_message": {"key": "no-such-message"},
        "admin.outbox_html": {"key": "no-such-message"},
        "subscriptions.confirm_page": {"token": "not-a-token"},
        "subscriptions.unsubscribe_page": {"token": unsubscribe},
        "members.confirm_login": {"token": "not-a-token"},
        "accounts.email_change_page": {"token": "not-a-token"},
        "invites.join_page": {"code": invite},
        "invites.confirm_page": {
            "code": invite,
            "token": token(invites.confirm_url(settings, seeded.member, seeded.invite)),
        },
        "feedback_links.vote_page": {"token": "not-a-token", "choice": 1},
        "tracking.click": {"token": "not-a-token", "position": 1},
        "tracking.pixel": {"token": "not-a-token"},
        "sends.progress_json": {"send_id": seeded.send_id},
        "insights.issue_report_csv": {"slug": seeded.paid_slug},
        "api.get_issue": {"ref": seeded.slug},
        "api.get_member": {"member_id": seeded.member.id},
        "api.get_send": {"send_id": seeded.send_id},
        "api.list_posts": {"thread_id": seeded.thread.id},
    }


def paths(app: Flask, seeded: Seeded) -> list[str]:
    """One path per GET route, plus error pages and a search with results."""
    arguments = _arguments(app, seeded)
    found = ["/no-such-page", "/search?q=bread", "/forum/search?q=rose", "/archive?page=99"]
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods or rule.endpoint in SKIPPED:
                continue
            values = arguments.get(rule.endpoint, {})
            if set(rule.arguments) - set(values):
                raise AssertionError(f"no sample URL values for {rule.endpoint} {rule.rule}")
            found.append(url_for(rule.endpoint, **values))
    return found


def collect(app: Flask, seeded: Seeded) -> dict[str, str]:
    """``{"role GET /path (status)": html}`` for every distinct HTML page each role gets."""
    pages: dict[str, str] = {}
    seen: set[str] = set()
    every_path = paths(app, seeded)
    for role, member in (("anonymous", None), ("member", seeded.member), ("editor", seeded.editor)):
        client = app.test_client()
        if member is not None:
            sign_in(client, member)
        for path in every_path:
            response = client.get(path)
            assert response.status_code < 500, f"{role} GET {path}: {response.status_code}"
            if response.mimetype != "text/html":
                continue
            html = response.get_data(as_text=True)
            digest = hashlib.sha256(re.sub(r'value="[^"]*"', "", html).encode()).hexdigest()
            if digest not in seen:
                seen.add(digest)
                pages[f"{role} GET {path} ({response.status_code})"] = html
    return pages
