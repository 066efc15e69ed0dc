"""Every state-changing route (POST/PUT/PATCH/DELETE in the URL map, except /api/v1 which
schemathesis covers) gets hypothesis-made form data as an editor, a member and a stranger,
with a valid CSRF token: never a 5xx, and nothing written when the answer is a refusal."""

from __future__ import annotations

import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from app import create_app
from app.discussions import service as discussions
from app.discussions.models import Board, Post, Thread
from app.issues.models import Issue
from app.members.models import Member
from tests.conftest import CSRF_FIELD, SECRET, make_member, sign_in
from tests.discussions.conftest import publish_issue
from tests.fuzz.conftest import examples

STATUSES: list[int] = []  # what the walk saw, for the check that it gets past CSRF
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _routes() -> list[tuple[str, str, dict]]:
    """(method, rule, converters) for every state-changing route outside /api/v1."""
    app = create_app(
        {
            "database_url": "sqlite://",
            "instance_path": tempfile.mkdtemp(),
            "secret_key": SECRET,
            "redis_url": "redis://unused",
        }
    )
    found = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/api/v1", "/static")):
            continue
        for method in sorted(STATE_CHANGING & rule.methods):
            found.append((method, rule.rule, rule))
    return found


ROUTES = _routes()
# Field names the app's forms and views read (wtforms fields and request.form lookups).
FIELDS = [
    "access",
    "action",
    "active",
    "at",
    "back",
    "body",
    "body_markdown",
    "comment",
    "confirm",
    "confirm_email",
    "confirm_topics",
    "count",
    "counting",
    "currency",
    "description",
    "direction",
    "discussion",
    "duration",
    "email",
    "email_digest",
    "email_issues",
    "email_only",
    "email_replies",
    "events",
    "excerpt",
    "expires",
    "expression",
    "feedback_choices",
    "form",
    "form_token",
    "handled",
    "kind",
    "mailed_replies",
    "max_uses",
    "member_id",
    "name",
    "next",
    "note",
    "parent_id",
    "paywall_text",
    "reason",
    "replies_from_any_address",
    "return_to",
    "scope",
    "segment",
    "slug",
    "subtitle",
    "tag",
    "tags",
    "tier",
    "title",
    "url",
    "utc_offset",
    "visibility",
    "website",
    "welcome_text",
    "when",
]
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1",
            "2",
            "99999999999999999999",
            "1e309",
            "NaN",
            "y",
            "on",
            "true",
            "paid",
            "members",
            "public",
            "all",
            "tier:paid",
            "2026-01-31T10:00",
            "https://example.com/hook",
            "javascript:alert(1)",
            "a@example.com",
            "\x00",
            "<script>alert(1)</script>",
            "a\r\nBcc: evil@example.com",
            "x" * 100_000,
        ]
    ),  # fmt: skip
    st.integers().map(str),
)
RAW_BYTES = [b"\xed\xa0\x80", b"\xff\xfe", b"\xc0\xaf", b"\x00"]  # a lone surrogate, bad UTF-8
FORM = st.dictionaries(st.sampled_from(FIELDS), HOSTILE_TEXT, max_size=8)
INT_VALUES = st.sampled_from([0, 1, 2, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 10**30])


@pytest.fixture
def world(app, session):
    """Something real behind every kind of id, so routes get past their 404s."""
    member = make_member(session, email="fuzz-member@example.com", name="Fuzz", tier="paid")
    editor = make_member(session, email="fuzz-editor@example.com", role="editor", name="Ed")
    issue = publish_issue(session, title="Fuzzed", visibility="members")
    thread = discussions.issue_thread(session, issue)
    board = Board(slug="fuzz", name="Fuzz board", access="members")
    session.add(board)
    session.commit()
    post = discussions.create_post(session, member, thread, "A post to poke at.")
    session.commit()
    ids = {"issue_id": issue.id, "thread_id": thread.id, "post_id": post.id, "member_id":
        member.id, "board_id": board.id}  # fmt: skip
    return {"member": member, "editor": editor, "ids": ids, "slug": board.slug}


def counts(session) -> dict[str, int]:
    session.expire_all()
    return {
        model.__name__: session.scalar(select(func.count()).select_from(model))
        for model in (Member, Issue, Thread, Post, Board)
    }


def url_for(rule, world, draw) -> str:
    values = {}
    for name, converter in rule._converters.items():
        kind = type(converter).__name__
        if kind == "IntegerConverter":
            real = world["ids"].get(name)
            values[name] = draw(INT_VALUES if real is None else st.sampled_from([real, real]))
        elif kind == "AnyConverter":
            values[name] = draw(st.sampled_from(sorted(converter.items)))
        elif name == "slug":
            values[name] = world["slug"]
        else:
            values[name] = draw(st.text(min_size=1, max_size=30).filter(lambda v: "/" not in v))
    return rule.build(values, append_unknown=False)[1]


def csrf(client) -> str:
    """The session's CSRF token, from a page every visitor can load that has a form."""
    for path in ("/account/profile", "/admin/issues/new", "/subscribe", "/login"):
        match = CSRF_FIELD.search(client.get(path).get_data(as_text=True))
        if match:
            return match.group(1) or match.group(2)
    raise AssertionError("no page with a CSRF token")


@pytest.mark.parametrize(("method", "path", "rule"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_hostile_forms_never_5xx_and_refusals_write_nothing(
    app, session, world, method, path, rule
):
    @examples(3)
    @given(
        st.data(),
        st.sampled_from(["editor", "member", "anonymous"]),
        FORM,
        st.sampled_from([None, *RAW_BYTES]),
        st.sampled_from([True, False]),  # mostly with the token, so the views themselves run
    )
    def run(data, role, form, raw, with_token):
        client = app.test_client()
        if role != "anonymous":
            sign_in(client, world[role])
        if with_token:
            form = form | {"csrf_token": csrf(client)}
        url = url_for(rule, world, data.draw)
        before = counts(session)
        if raw is None:
            response = client.open(url, method=method, data=form)
        else:  # bytes that are not UTF-8, as a browser would never send them
            body = (
                b"&".join(
                    key.encode() + b"=" + raw + value.encode("utf-8", "surrogatepass")
                    for key, value in form.items()
                )
                or b"body=" + raw
            )
            response = client.open(
                url, method=method, data=body,
                content_type="application/x-www-form-urlencoded",
            )  # fmt: skip
        STATUSES.append(response.status_code)
        assert response.status_code < 500, (method, url, form, response.status_code)
        if response.status_code >= 400 and response.status_code != 429:
            assert counts(session) == before, (method, url, form, response.status_code)

    run()


@examples(20)
@given(
    st.binary(max_size=400),
    st.dictionaries(
        st.sampled_from(["Stripe-Signature", "Content-Type", "Content-Encoding"]),
        st.one_of(
            st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80),
            st.sampled_from(["t=1,v1=00", "t=abc,v1=", "application/json", "gzip"]),
        ),
    ),
)
def test_stripe_webhook_takes_random_bodies_and_headers(app, session, body, headers):
    before = counts(session)
    response = app.test_client().post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code < 500 and counts(session) == before


def test_the_walk_got_past_csrf_and_login_somewhere():
    """Guards the walker itself: with real tokens some requests succeed or redirect."""
    if STATUSES:  # the walk ran in this session
        assert any(status < 400 for status in STATUSES)
