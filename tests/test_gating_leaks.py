"""The leak suite: a gated issue's full body reaches exactly the readers the one policy allows,
on every surface that exists (page, lists, feed, link-preview tags, the email itself).

Each gated issue carries a unique sentence after its ``<!-- more -->`` marker; the test asks
every surface as every kind of reader and checks where that sentence shows up.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from app.issues import service as issues
from app.members import access
from tests.conftest import make_member, run_jobs, sign_in

SECRETS = {
    "members": "Canary sentence for members only: the levain smells of green apples.",
    "paid": "Canary sentence for paying readers: fold at minute forty-three.",
}
VIEWERS = ("anonymous", "free", "invite", "paid", "lapsed", "unsubscribed", "editor")
# Who may read each visibility in full: the table in app/members/access.py.
ALLOWED = {
    "members": {"free", "invite", "paid", "lapsed", "unsubscribed", "editor"},
    "paid": {"invite", "paid", "unsubscribed", "editor"},  # (a paying member off email)
}


@pytest.fixture
def gated(session):
    created = {}
    for visibility, secret in SECRETS.items():
        issue = issues.save_issue(
            session,
            {
                "title": f"A {visibility} issue",
                "excerpt": f"What the {visibility} issue is about.",
                "visibility": visibility,
                "body_markdown": f"The open teaser.\n\n<!-- more -->\n\n{secret}\n",
            },
        )
        issues.publish(session, issue)
        created[visibility] = issue
    session.commit()
    return created


@pytest.fixture
def readers(session):
    return {
        "free": make_member(session, email="free@example.com", tier="free"),
        "invite": make_member(session, email="invite@example.com", tier="invite"),
        "paid": make_member(session, email="paid@example.com", tier="paid"),
        # A paid membership that ended: back to free (members.tiers.paid_ended).
        "lapsed": make_member(session, email="lapsed@example.com", tier="free"),
        "unsubscribed": make_member(
            session, email="quiet@example.com", tier="paid", status="unsubscribed"
        ),
        "editor": make_member(session, email="editor@example.com", role="editor"),
    }


def surfaces(client, issue) -> dict[str, str]:
    return {
        "issue page": client.get(f"/issues/{issue.slug}").get_data(as_text=True),
        "home": client.get("/").get_data(as_text=True),
        "archive": client.get("/archive").get_data(as_text=True),
        "feed": client.get("/feed.xml").get_data(as_text=True),
    }


@pytest.mark.parametrize("viewer", VIEWERS)
def test_every_web_surface_shows_the_full_body_only_to_readers_with_access(
    app, session, gated, readers, viewer
):
    client = app.test_client()
    if viewer != "anonymous":
        sign_in(client, readers[viewer])
    for visibility, issue in gated.items():
        for surface, html in surfaces(client, issue).items():
            shown = SECRETS[visibility] in html
            allowed = viewer in ALLOWED[visibility] and surface == "issue page"
            assert shown == allowed, f"{visibility} issue, {surface}, as {viewer}: shown={shown}"
        page = surfaces(client, issue)["issue page"]
        assert "The open teaser." in page  # everyone gets the teaser
        head = page.split("</head>", 1)[0]
        assert SECRETS[visibility] not in head  # og:/meta tags carry the excerpt only


def test_readers_without_access_get_a_paywall_that_says_what_to_do(app, session, gated, readers):
    anonymous = app.test_client()
    page = anonymous.get(f"/issues/{gated['paid'].slug}").get_data(as_text=True)
    assert "This issue is for paid members" in page and "Sign in" in page
    free = app.test_client()
    sign_in(free, readers["free"])
    page = free.get(f"/issues/{gated['paid'].slug}").get_data(as_text=True)
    assert "This issue is for paid members" in page
    assert "Paid membership is not open here yet" in page  # no Stripe keys: plainly off
    assert "Sign in" not in page.split('class="gate"', 1)[1].split("</aside>", 1)[0]
    paid = app.test_client()
    sign_in(paid, readers["paid"])
    assert 'class="gate"' not in paid.get(f"/issues/{gated['paid'].slug}").get_data(as_text=True)


def test_the_email_carries_the_full_body_only_to_readers_with_access(
    app, session, gated, readers, smtp, redis
):
    for issue in gated.values():
        result = app.test_cli_runner().invoke(
            args=["send", issue.slug, "--segment", "all", "--yes"]
        )
        assert result.exit_code == 0, result.output
    run_jobs(app)
    by_reader = defaultdict(str)
    for message in smtp.received:
        parsed = message.message
        text = parsed.get_body(("plain",)).get_content() + parsed.get_body(("html",)).get_content()
        by_reader[message.recipients[0]] += text
    emails = {name: member.email for name, member in readers.items()}
    for visibility, secret in SECRETS.items():
        for name, address in emails.items():
            if name == "unsubscribed":
                assert address not in by_reader  # takes no bulk mail at all
                continue
            shown = secret in by_reader[address]
            assert shown == (name in ALLOWED[visibility]), f"{visibility} email to {name}"
    assert "Upgrade to read every issue in full" in by_reader["free@example.com"]
    assert "Upgrade to read every issue in full" not in by_reader["paid@example.com"]


@pytest.mark.parametrize(
    ("visibility", "tier", "status", "editor", "expected"),
    [
        ("public", None, None, False, True),
        ("members", None, None, False, False),
        ("members", "free", "active", False, True),
        ("members", "free", "pending", False, False),
        ("paid", "free", "active", False, False),
        ("paid", "invite", "active", False, True),
        ("paid", "paid", "active", False, True),
        ("paid", "paid", "pending", False, False),
        ("paid", "free", "active", True, True),
        ("secret", "paid", "active", False, False),  # unknown visibility: closed
    ],
)
def test_the_policy_table(visibility, tier, status, editor, expected):
    class Issue:
        pass

    class Viewer:
        is_authenticated = tier is not None
        is_editor = editor

    issue, viewer = Issue(), Viewer()
    issue.visibility = visibility
    viewer.tier, viewer.status = tier, status
    assert access.can_read_full(viewer if tier else None, issue) is expected
