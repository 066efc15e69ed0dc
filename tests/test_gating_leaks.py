"""The leak suite: a gated issue's full body reaches exactly the readers the one policy allows,
on every surface that exists (page, lists, feeds, sitemap, search, link-preview tags, the email
itself).

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
# A piece of each canary that no query, title, teaser or page wording contains: a search snippet
# that marks words up (<mark>) or cuts the sentence short still gives itself away by it.
CANARY_PIECES = {"members": "levain smells", "paid": "paying readers"}
# Searches for words found only after the marker: they find the issue exactly for the readers
# above, and for no one else (not even its title may come back).
SECRET_QUERIES = {
    "members": ("levain", "green APPLES"),
    "paid": ("forty-three", "minute fold"),
}
# Where a reader with access may see the canary; the issue page must show it to them.
SHOWS_TO_ALLOWED = {"issue page", "search: title"} | {
    f"search: {query}" for queries in SECRET_QUERIES.values() for query in queries
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
    def search(query: str) -> str:
        response = client.get("/search", query_string={"q": query})
        assert response.status_code == 200
        return response.get_data(as_text=True)

    return {
        "issue page": client.get(f"/issues/{issue.slug}").get_data(as_text=True),
        "home": client.get("/").get_data(as_text=True),
        "archive": client.get("/archive").get_data(as_text=True),
        "feed": client.get("/feed.xml").get_data(as_text=True),
        "json feed": client.get("/feed.json").get_data(as_text=True),
        "sitemap": client.get("/sitemap.xml").get_data(as_text=True),
        "search: title": search(issue.title),
        **{f"search: {query}": search(query) for query in SECRET_QUERIES[issue.visibility]},
    }


@pytest.mark.parametrize("viewer", VIEWERS)
def test_every_web_surface_shows_the_full_body_only_to_readers_with_access(
    app, session, gated, readers, viewer
):
    client = app.test_client()
    if viewer != "anonymous":
        sign_in(client, readers[viewer])
    for visibility, issue in gated.items():
        reads_it = viewer in ALLOWED[visibility]
        link = f'href="/issues/{issue.slug}"'
        for surface, html in surfaces(client, issue).items():
            text = html.replace("<mark>", "").replace("</mark>", "")
            shown = SECRETS[visibility] in text or CANARY_PIECES[visibility] in text
            where = f"{visibility} issue, {surface}, as {viewer}"
            if surface == "issue page":
                assert shown == reads_it, f"{where}: shown={shown}"
            else:  # a search snippet may show it to a reader with access, nothing else may
                assert not shown or (reads_it and surface in SHOWS_TO_ALLOWED), where
            if surface == "search: title":
                assert link in html, f"{where}: the title is public and must be found"
            elif surface.startswith("search: "):
                assert (link in html) == reads_it, f"{where}: found={link in html}"
                assert (issue.title in html) == reads_it, f"{where}: title shown"
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
