"""``/api/v1/issues`` and sends: drafts and published issues, gating by the one policy,
writing and publishing, and sends that go out through the real worker and SMTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select

from app.db import utcnow
from app.issues import service as issues
from app.issues.models import Issue
from app.members import access
from app.sending.models import Send
from tests.api.conftest import error_of
from tests.conftest import make_member, run_jobs, sign_in

BODY = "Open part.\n\n<!-- more -->\n\nThe **paid** rest."


@pytest.fixture
def paid_issue(session):
    issue = issues.save_issue(
        session, {"title": "Paid notes", "body_markdown": BODY, "visibility": "paid"}
    )
    issues.publish(session, issue)
    session.commit()
    return issue


@pytest.fixture
def draft(session):
    issue = issues.save_issue(session, {"title": "Still writing", "body_markdown": "Soon."})
    session.commit()
    return issue


def test_issues_list_drafts_too_and_filter_by_status(api, reader, paid_issue, draft):
    listed = reader.get("/issues").get_json()
    assert [i["slug"] for i in listed["data"]] == ["paid-notes", "still-writing"]
    assert "body_html" not in listed["data"][0] and listed["next_cursor"] is None
    drafts = reader.get("/issues?status=draft").get_json()["data"]
    assert [i["slug"] for i in drafts] == ["still-writing"]
    paged = reader.get("/issues?limit=1").get_json()
    following = reader.get(f"/issues?limit=1&cursor={paged['next_cursor']}").get_json()
    assert [i["slug"] for i in following["data"]] == ["still-writing"]
    bad = reader.get("/issues?status=sent")
    assert bad.status_code == 400 and error_of(bad)["fields"] == {"status": "sent"}


def test_an_editors_token_reads_a_paid_issue_in_full_as_the_policy_says(
    reader, session, editor, paid_issue
):
    """Gating applies to the API exactly as to pages: the token's editor is the viewer."""
    body = reader.get(f"/issues/{paid_issue.slug}").get_json()
    assert access.can_read_full(editor, paid_issue)
    assert body["gate"] is None and body["body_markdown"] == BODY
    assert "<strong>paid</strong> rest" in body["body_html"]
    assert reader.get(f"/issues/{paid_issue.id}").get_json() == body


def test_no_token_can_read_as_a_member(reader, session, editor, paid_issue):
    """The API is for editors only: a token whose owner becomes an ordinary (free) member
    does not fall back to that member's teaser view; it stops working."""
    editor.role, editor.tier = "member", "free"
    session.commit()
    assert access.gate(editor, paid_issue) == "upgrade"
    response = reader.get(f"/issues/{paid_issue.slug}")
    assert response.status_code == 401
    assert list(response.get_json()) == ["error"]
    assert "Open part" not in response.get_data(as_text=True)


def test_unknown_issues_are_404(reader, api):
    for path in ("/issues/no-such-slug", "/issues/424242", "/issues/99999999999999999999"):
        response = reader.get(path)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert api.patch("/issues/nope", json={"title": "X"}).status_code == 404
    assert api.post("/issues/nope/publish").status_code == 404
    assert api.post("/issues/nope/sends", json={"segment": "all"}).status_code == 404


def test_an_issue_is_written_changed_and_published(api, session):
    made = api.post("/issues", json={"title": "Crumb & crust", "body_markdown": BODY})
    assert made.status_code == 201
    issue = made.get_json()
    assert (issue["slug"], issue["status"], issue["visibility"]) == (
        "crumb-crust", "draft", "public",
    )  # fmt: skip
    assert made.headers["Location"].endswith(f"/api/v1/issues/{issue['id']}")
    changed = api.patch(
        "/issues/crumb-crust",
        json={"subtitle": "On ovens", "visibility": "members", "feedback_choices": 3},
    )
    assert changed.status_code == 200
    assert changed.get_json()["subtitle"] == "On ovens"
    assert changed.get_json()["body_markdown"] == BODY  # untouched fields stay
    published = api.post(f"/issues/{issue['id']}/publish")
    assert published.status_code == 200
    assert published.get_json()["status"] == "published"
    assert published.get_json()["published_at"] is not None
    assert issues.published_by_slug(session, "crumb-crust") is not None


SLUG_RULE = "Use lower-case letters, digits and single hyphens, at most 120."
NO_SLUG = "A slug is required (letters, digits and hyphens)."
LONG = "x" * 400_001


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"body_markdown": "No"}, {"title": "A title is required.", "slug": NO_SLUG}),
        ({"title": "T", "slug": "Not A Slug"}, {"slug": SLUG_RULE}),
        (
            {"title": "T", "visibility": "x"},
            {"visibility": "must be one of: public, members, paid"},
        ),
        (
            {"title": "T", "feedback_choices": 4},
            {"feedback_choices": "Offer 0, 3 or 5 feedback choices."},
        ),
        ({"title": "T", "feedback_choices": "3"}, {"feedback_choices": "must be an integer"}),
        ({"title": "T", "email_only": "yes"}, {"email_only": "must be true or false"}),
        (
            {"title": "T", "body_markdown": LONG},
            {"body_markdown": "must be at most 400,000 characters"},
        ),
    ],
)
def test_an_invalid_issue_is_422_with_fields(api, session, body, fields):
    response = api.post("/issues", json=body)
    assert response.status_code == 422
    assert error_of(response)["fields"] == fields
    assert session.scalars(select(Issue)).all() == []


def test_a_slug_in_use_is_refused(api, draft):
    response = api.post("/issues", json={"title": "Still writing"})
    assert response.status_code == 422
    assert error_of(response)["fields"] == {
        "slug": "The slug 'still-writing' is already used by another issue."
    }


def test_publish_takes_no_fields(api, draft):
    response = api.post(f"/issues/{draft.id}/publish", json={"at": "2030-01-01"})
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"at": "is not a field of this request"}


# --- sends --------------------------------------------------------------------------------


@pytest.fixture
def audience(session):
    for name in ("ann", "bob"):
        make_member(session, email=f"{name}@example.com", tier="paid")
    make_member(session, email="cat@example.com", tier="free")


def test_a_send_started_through_the_api_goes_out_through_the_worker(
    app, api, reader, session, draft, audience, smtp, redis
):
    response = api.post(f"/issues/{draft.slug}/sends", json={"segment": "tier:paid"})
    assert response.status_code == 201
    started = response.get_json()
    assert started["issue_id"] == draft.id and started["expression"] == "tier:paid"
    assert started["status"] == "sending"
    assert response.headers["Location"].endswith(f"/api/v1/sends/{started['id']}")
    run_jobs(app)
    assert sorted(r for m in smtp.received for r in m.recipients) == [
        "ann@example.com", "bob@example.com",
    ]  # fmt: skip
    status = reader.get(f"/sends/{started['id']}").get_json()
    assert (status["status"], status["counts"]["sent"], status["total"]) == ("done", 2, 2)
    assert issues.published_by_slug(session, draft.slug) is not None  # as kith send does


def test_a_send_can_be_scheduled(api, session, draft, audience, redis):
    at = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    response = api.post(f"/issues/{draft.id}/sends", json={"segment": "all", "at": at.isoformat()})
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "scheduled" and body["scheduled_at"] == at.isoformat()
    queue = Queue("send", connection=redis, serializer=JSONSerializer)
    assert len(ScheduledJobRegistry(queue=queue)) == 1


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"segment": "tier:gold"}, 422, "unknown tier 'gold'"),
        ({}, 422, "Some fields"),
        ({"segment": "all", "at": "tomorrow"}, 422, "at must be an ISO 8601 time"),
        ({"segment": "all", "at": "2001-01-01T00:00Z"}, 422, "has passed"),
        ({"segment": "all", "at": "9999-12-31T23:59:59-12:00"}, 422, "ISO 8601"),
    ],
)
def test_a_bad_send_is_refused_and_nothing_starts(
    api, session, draft, audience, redis, body, status, fragment
):
    response = api.post(f"/issues/{draft.id}/sends", json=body)
    assert response.status_code == status
    error = error_of(response)
    assert fragment in error["message"] + str(error.get("fields"))
    assert session.scalars(select(Send)).all() == []


def test_without_the_job_queue_nothing_is_sent(api, session, draft, audience):
    api.client.application.extensions["kith.redis_url"] = "redis://127.0.0.1:1/0"
    response = api.post(f"/issues/{draft.id}/sends", json={"segment": "all"})
    assert response.status_code == 503
    assert error_of(response)["code"] == "unavailable"
    assert session.scalars(select(Send)).all() == []


def test_an_unknown_send_is_404(reader):
    assert reader.get("/sends/31337").status_code == 404


@pytest.mark.parametrize(
    "viewer",
    [
        {"tier": "free"},
        {"tier": "paid"},
        {"tier": "invite"},
        {"tier": "paid", "status": "unsubscribed"},
        {"role": "editor"},
    ],
)
def test_no_signed_in_reader_gets_a_body_through_the_api(app, session, paid_issue, viewer):
    """The leak suite's question for the API: a session cookie, even a paying member's or an
    editor's, opens nothing; only a token does (and only editors have tokens)."""
    browser = app.test_client()
    sign_in(browser, make_member(session, **viewer))
    for path in (f"/issues/{paid_issue.slug}", "/issues", "/threads", "/members"):
        response = browser.get(f"/api/v1{path}")
        assert response.status_code == 401, path
        assert "paid</strong> rest" not in response.get_data(as_text=True)
