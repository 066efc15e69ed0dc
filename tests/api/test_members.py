"""``/api/v1/members``: listing with segments and cursors, adding, changing and tagging."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.members.models import ConsentEvent, Member
from tests.api.conftest import error_of
from tests.conftest import make_member


def test_a_member_is_added_as_the_admin_adds_one(api, session):
    response = api.post(
        "/members",
        json={
            "email": " Ann@Example.COM ", "name": "Ann", "tier": "paid",
            "tags": ["rye club", "vip"], "fields": {"city": "Oslo"},
        },
    )  # fmt: skip
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/members/{body['id']}")
    assert (body["email"], body["tier"], body["status"]) == ("ann@example.com", "paid", "active")
    assert (body["tags"], body["fields"]) == (["rye club", "vip"], {"city": "Oslo"})
    consent = session.scalar(select(ConsentEvent).where(ConsentEvent.member_id == body["id"]))
    assert consent.action == "added" and consent.source == "admin"
    assert consent.detail == "added by editor@example.com with the API token “writer”"
    assert api.get(f"/members/{body['id']}").get_json() == body


def test_an_address_already_known_is_a_conflict(api, session):
    make_member(session, email="known@example.com")
    response = api.post("/members", json={"email": "KNOWN@example.com"})
    assert response.status_code == 409
    assert error_of(response) == {
        "code": "conflict",
        "message": "known@example.com is already a member.",
    }


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "email", "is required"),
        ({"email": "nobody@"}, "email", "There must be something after the @-sign."),
        ({"email": "a@example.com", "tier": "gold"}, "tier", "must be one of: free, paid, invite"),
        ({"email": "a@example.com", "name": 7}, "name", "must be a string"),
        ({"email": "a@example.com", "name": "x" * 201}, "name", "at most 200"),
        ({"email": "a@example.com", "name": "A\x00B"}, "name", "NUL"),
        ({"email": "a@example.com", "name": "\ud800"}, "name", "valid Unicode"),
        ({"email": "a@example.com", "tags": "vip"}, "tags", "list of strings"),
        ({"email": "a@example.com", "fields": {"city": 3}}, "fields", "'city' must be a string"),
        ({"email": "a@example.com", "role": "editor"}, "role", "not a field"),
    ],
)
def test_bad_fields_are_422_and_nothing_is_written(api, session, body, field, message):
    response = api.post("/members", json=body)
    assert response.status_code == 422
    assert message in error_of(response)["fields"][field]
    assert session.scalar(select(Member).where(Member.email == "a@example.com")) is None


def test_a_blank_tag_is_refused(api):
    response = api.post("/members", json={"email": "a@example.com", "tags": ["   "]})
    assert response.status_code == 422
    assert "tag needs 1 to 100" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[1, 2]", "application/json", 422),
        ('"x"', "application/json", 422),
        ("email=a@example.com", "application/x-www-form-urlencoded", 415),
        ('{"email": "a@example.com"}', "text/plain", 415),
        ("[" * 100_000 + "]" * 100_000, "application/json", 400),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(api, data, content_type, status):
    response = api.post("/members", data=data, content_type=content_type)
    assert response.status_code == status
    assert error_of(response)["message"]


def test_a_body_over_the_size_limit_is_413(api):
    response = api.post("/members", json={"email": "a@example.com", "name": "x" * 3_000_000})
    assert response.status_code == 413
    assert error_of(response)["code"] == "too_large"


def test_a_member_is_renamed_moved_and_unsubscribed(api, session):
    member = make_member(session, tier="paid", fields={"city": "Oslo", "pet": "cat"})
    response = api.patch(
        f"/members/{member.id}",
        json={"name": "  Bea   B ", "tier": "free", "status": "unsubscribed",
              "fields": {"pet": None, "team": "red"}},
    )  # fmt: skip
    assert response.status_code == 200
    body = response.get_json()
    assert (body["name"], body["tier"], body["status"]) == ("Bea   B", "free", "unsubscribed")
    assert body["fields"] == {"city": "Oslo", "team": "red"}
    assert body["unsubscribed_at"] is not None
    consent = session.scalar(
        select(ConsentEvent).where(
            ConsentEvent.member_id == member.id, ConsentEvent.action == "unsubscribe"
        )
    )
    assert consent.source == "api" and "editor@example.com" in consent.detail
    again = api.patch(f"/members/{member.id}", json={"status": "unsubscribed"})
    assert again.status_code == 200
    assert (
        session.scalar(
            select(ConsentEvent)
            .where(ConsentEvent.action == "unsubscribe")
            .order_by(ConsentEvent.id.desc())
        ).id
        == consent.id
    )


@pytest.mark.parametrize("status", ["active", "bounced", "pending"])
def test_the_api_can_only_unsubscribe(api, session, status):
    member = make_member(session, status="unsubscribed")
    response = api.patch(f"/members/{member.id}", json={"status": status})
    assert response.status_code == 422
    assert error_of(response)["fields"] == {
        "status": "Through the API a member can only be unsubscribed."
    }
    session.refresh(member)
    assert member.status == "unsubscribed"


def test_a_refused_change_changes_nothing(api, session):
    member = make_member(session, name="Old")
    response = api.patch(f"/members/{member.id}", json={"name": "New", "status": "active"})
    assert response.status_code == 422
    session.refresh(member)
    assert member.name == "Old"


def test_tags_are_added_and_removed(api, session):
    member = make_member(session)
    added = api.post(f"/members/{member.id}/tags", json={"tags": ["vip", "a/b", "vip"]})
    assert added.status_code == 200 and added.get_json()["tags"] == ["a/b", "vip"]
    assert api.post(f"/members/{member.id}/tags", json={"tags": ["vip"]}).status_code == 200
    removed = api.delete(f"/members/{member.id}/tags/a/b")
    assert removed.status_code == 200 and removed.get_json()["tags"] == ["vip"]
    unknown = api.delete(f"/members/{member.id}/tags/never-there")
    assert unknown.status_code == 200 and unknown.get_json()["tags"] == ["vip"]
    assert api.post(f"/members/{member.id}/tags", json={}).status_code == 422
    assert api.post(f"/members/{member.id}/tags", json={"tags": ["x" * 101]}).status_code == 422


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/members/999999"),
        ("GET", "/members/99999999999999999999"),
        ("PATCH", "/members/999999"),
        ("POST", "/members/999999/tags"),
        ("DELETE", "/members/999999/tags/vip"),
        ("GET", "/members/abc"),
    ],
)
def test_an_unknown_member_is_404(api, method, path):
    body = {"POST": {"tags": ["x"]}, "PATCH": {}}.get(method)
    response = api.call(method, path, json=body)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


@pytest.fixture
def crowd(session):
    made = [
        make_member(session, email=f"m{n}@example.com", tier="paid" if n % 2 else "free")
        for n in range(5)
    ]
    return made


def test_members_are_paged_by_cursor(api, session, editor, crowd):
    first = api.get("/members?limit=2").get_json()
    assert [m["id"] for m in first["data"]] == [editor.id, crowd[0].id]
    late = make_member(session, email="late@example.com")  # appears once, at the end
    second = api.get(f"/members?limit=2&cursor={first['next_cursor']}").get_json()
    assert [m["id"] for m in second["data"]] == [crowd[1].id, crowd[2].id]
    rest = api.get(f"/members?limit=200&cursor={second['next_cursor']}").get_json()
    assert [m["id"] for m in rest["data"]] == [crowd[3].id, crowd[4].id, late.id]
    assert rest["next_cursor"] is None
    assert len(api.get("/members").get_json()["data"]) == 7  # the default limit is 50


def test_the_last_full_page_says_there_is_no_more(api, editor):
    page = api.get("/members?limit=1").get_json()
    assert len(page["data"]) == 1 and page["next_cursor"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=-1", "limit=ten", "limit=١"])
def test_a_limit_out_of_bounds_is_400(api, query):
    response = api.get(f"/members?{query}")
    assert response.status_code == 400
    assert error_of(response)["fields"] == {"limit": "must be 1 to 200"}


def test_a_forged_or_foreign_cursor_is_400(api, session, crowd):
    cursor = api.get("/members?limit=1").get_json()["next_cursor"]
    issues_cursor = cursor  # a members cursor used on issues
    for path in (
        "/members?cursor=bm90LWEtY3Vyc29y",
        f"/members?cursor={cursor[:-2]}xx",
        f"/issues?cursor={issues_cursor}",
    ):
        response = api.get(path)
        assert response.status_code == 400, path
        assert error_of(response)["fields"] == {"cursor": "is not valid for this list"}


def test_members_are_filtered_by_segment_and_address(api, crowd):
    paid = api.get("/members", query_string={"segment": "tier:paid"}).get_json()["data"]
    assert [m["email"] for m in paid] == ["m1@example.com", "m3@example.com"]
    found = api.get("/members", query_string={"email": "M2@EXAMPLE.com"}).get_json()["data"]
    assert [m["email"] for m in found] == ["m2@example.com"]
    assert api.get("/members?email=not-an-address").status_code == 400


@pytest.mark.parametrize(
    ("expression", "message", "position"),
    [
        ("tier:paid AND colour:red", "unknown term 'colour:red'", 15),
        ("tier:gold", "unknown tier 'gold'", 1),
        ("", "the expression is empty", 1),
        ("(tier:paid", "missing ')'", 11),
    ],
)
def test_a_bad_segment_is_422_with_where_it_goes_wrong(api, expression, message, position):
    response = api.get("/members", query_string={"segment": expression})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid_segment"
    assert error["message"].startswith(message) and error["position"] == position


def test_segments_are_counted_as_the_admin_counts(api, reader, session, crowd):
    crowd[1].status = "unsubscribed"
    session.commit()
    response = reader.post("/segments/count", json={"expression": "tier:paid"})
    assert response.get_json() == {"count": 2, "recipients": 1}
    bad = reader.post("/segments/count", json={"expression": "tier:"})
    assert bad.status_code == 422 and error_of(bad)["message"].startswith("'tier:' needs a value")
    assert reader.post("/segments/count", json={}).status_code == 422
