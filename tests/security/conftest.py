"""A small publication with one of everything a URL can name, and a reader of every kind.

The security suites fill every route's URL parameters from this world, so each request
reaches real rows (an issue, a thread, a post, an invite, a signed token…) rather than 404s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.db import Base
from app.discussions import service as discussions
from app.discussions.models import Board, Thread
from app.issues import service as issues
from app.members import invites, subscriptions, tiers, tokens
from app.members import service as members
from tests.conftest import make_member, sign_in

CANARY = "Canary for paying readers: the starter wants rye at dawn."
THREAD_CANARY = "Canary in the paid board: the crumb stays open."
ROLES = ("anonymous", "pending", "free", "invite", "paid", "lapsed", "suspended", "editor")


@dataclass
class World:
    """Ids, slugs and tokens of seeded rows, by the URL parameter names that need them."""

    issues: dict[str, object] = field(default_factory=dict)
    people: dict[str, object] = field(default_factory=dict)
    boards: dict[str, Board] = field(default_factory=dict)
    threads: dict[str, Thread] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)


def _issue(session, visibility: str, body: str):
    issue = issues.save_issue(
        session,
        {
            "title": f"A {visibility} issue",
            "excerpt": f"What the {visibility} issue is about.",
            "visibility": visibility,
            "body_markdown": f"The open teaser.\n\n<!-- more -->\n\n{body}\n",
        },
    )
    issues.publish(session, issue)
    return issue


def _people(session) -> dict[str, object]:
    later = datetime.now(UTC) + timedelta(days=7)
    return {
        "pending": make_member(session, email="pending@example.com", status="pending"),
        "free": make_member(session, email="free@example.com", tier="free"),
        "invite": make_member(session, email="invite@example.com", tier="invite"),
        "paid": make_member(session, email="paid@example.com", tier="paid"),
        "lapsed": make_member(
            session, email="lapsed@example.com", tier="paid", stripe_customer_id="cus_lapsed"
        ),
        "suspended": make_member(
            session, email="suspended@example.com", tier="paid", posting_suspended_until=later
        ),
        "editor": make_member(session, email="editor@example.com", role="editor", name="Ed"),
    }


@pytest.fixture
def world(app, session) -> World:
    world = World()
    world.issues = {
        "public": _issue(session, "public", "All of the public issue."),
        "members": _issue(session, "members", "The members' part."),
        "paid": _issue(session, "paid", CANARY),
    }
    world.issues["public"].feedback_choices = 5
    world.people = _people(session)
    tiers.paid_ended(session, world.people["lapsed"])  # was paid, now free; customer stays
    assert world.people["lapsed"].tier == "free"
    world.boards = {
        access: Board(slug=f"{access}-board", name=f"{access.title()} board", access=access)
        for access in ("public", "members", "paid")
    }
    session.add_all(world.boards.values())
    session.flush()
    author = world.people["paid"]
    world.threads = {
        "issue": discussions.issue_thread(session, world.issues["public"]),
        "topic": Thread(
            kind="topic", board_id=world.boards["public"].id, title="Hello", author_id=author.id
        ),
    }
    world.threads["paid"] = Thread(
        kind="topic", board_id=world.boards["paid"].id, title="Rye", author_id=author.id
    )
    session.add_all([world.threads["topic"], world.threads["paid"]])
    session.flush()
    post = discussions.create_post(session, author, world.threads["topic"], "A first post.")
    discussions.create_post(session, author, world.threads["paid"], THREAD_CANARY)
    feedback = discussions.create_post(
        session, author, world.threads["issue"], "A note for the editor.", private=True
    )
    invite = invites.create(session, max_uses=5, created_by=world.people["editor"])
    session.commit()
    settings = app.extensions["kith.settings"]
    reader = world.people["free"]
    login = members.start_login(session, reader)
    session.commit()
    world.values = {
        "slug": world.issues["paid"].slug,
        "issue_id": str(world.issues["paid"].id),
        "thread_id": str(world.threads["topic"].id),
        "post_id": str(post.id),
        "feedback_id": str(feedback.id),
        "board_slug": world.boards["public"].slug,
        "paid_board_slug": world.boards["paid"].slug,
        "members_board_slug": world.boards["members"].slug,
        "paid_thread_id": str(world.threads["paid"].id),
        "members_slug": world.issues["members"].slug,
        "board_id": str(world.boards["public"].id),
        "invite_id": str(invite.id),
        "code": invite.code,
        "member_id": str(reader.id),
        "login_token": members.sign_login_token(settings, login),
        "unsubscribe_token": _last_part(subscriptions.unsubscribe_url(settings, reader)),
        "confirm_token": _last_part(subscriptions.confirm_url(settings, world.people["pending"])),
        "join_token": _last_part(invites.confirm_url(settings, world.people["pending"], invite)),
        "feedback_token": tokens.sign(
            settings, "feedback", {"m": reader.id, "i": world.issues["public"].id}
        ),
    }
    return world


def _last_part(url: str) -> str:
    return url.rsplit("/", 1)[1]


def client_as(app, world: World, role: str) -> FlaskClient:
    """A test client signed in as ``role`` (a pending member's session does not sign in)."""
    client = app.test_client()
    if role != "anonymous":
        sign_in(client, world.people[role])
    return client


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


# What a browser form might carry: enough for most views to act, were the token not checked.
FORM = {
    "email": "someone-new@example.com",
    "name": "Someone",
    "title": "A title",
    "body": "A body.",
    "body_markdown": "A body.",
    "slug": "a-new-slug",
    "reason": "spam",
    "kind": "like",
    "action": "hide",
    "confirm": "yes",
    "tags": "vip",
    "tag": "vip",
    "expression": "all",
    "segment": "all",
    "scope": "write",
    "url": "https://example.org/hook",
}


def snapshot(session) -> dict[str, list[tuple]]:
    """Every row of every table: a request that was refused must leave all of them alone."""
    session.expire_all()
    return {
        table.name: sorted(map(repr, session.execute(select(table)).all()))
        for table in Base.metadata.sorted_tables
    }
