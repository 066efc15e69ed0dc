"""The editor's audience pages: find, filter by segment, tag in bulk, add by hand, segments."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.members.models import ConsentEvent, Member, Segment
from app.members.subscriptions import record_consent
from tests.conftest import csrf_token, make_member, sign_in

PAGES = [
    "/admin/members",
    "/admin/members/new",
    "/admin/segments",
    "/admin/segments/count?expression=all",
]


@pytest.fixture
def editor_client(client, editor):
    sign_in(client, editor)
    return client


@pytest.mark.parametrize("path", PAGES)
def test_only_editors_see_the_audience(client, session, path):
    assert client.get(path).status_code == 302
    sign_in(client, make_member(session))
    assert client.get(path).status_code == 403


def test_search_and_segment_filter(editor_client, session):
    make_member(session, email="ann@example.com", name="Ann Baker", tier="paid")
    make_member(session, email="bob@example.com", tier="free")
    html = editor_client.get("/admin/members?q=baker").get_data(as_text=True)
    assert "ann@example.com" in html and "bob@example.com" not in html
    html = editor_client.get("/admin/members?segment=tier:free").get_data(as_text=True)
    assert "bob@example.com" in html and "ann@example.com" not in html
    assert (
        editor_client.get("/admin/members?q=%25").status_code == 200
    )  # LIKE wildcards are literal


def test_a_bad_segment_is_explained_not_treated_as_everyone(editor_client, session):
    make_member(session, email="ann@example.com")
    response = editor_client.get("/admin/members?segment=tier:gold")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "unknown tier" in html and "ann@example.com" not in html


def test_bulk_tag_and_untag(editor_client, session):
    ann, bob = (
        make_member(session, email="ann@example.com"),
        make_member(session, email="bob@example.com"),
    )
    token = csrf_token(editor_client, "/admin/members")
    data = {
        "csrf_token": token,
        "member_id": [str(ann.id), str(bob.id)],
        "tag": "  early  bird ",
        "action": "add",
    }
    assert editor_client.post("/admin/members/tags", data=data).status_code == 302
    session.expire_all()
    assert [t.name for t in session.get(Member, ann.id).tags] == ["early bird"]
    html = editor_client.get("/admin/members?segment=tag:%22early bird%22").get_data(as_text=True)
    assert "ann@example.com" in html and "bob@example.com" in html
    data.update(action="remove", member_id=[str(bob.id)])
    editor_client.post("/admin/members/tags", data=data)
    session.expire_all()
    assert session.get(Member, bob.id).tags == [] and len(session.get(Member, ann.id).tags) == 1
    assert (
        editor_client.post(
            "/admin/members/tags", data={"tag": "x", "member_id": [str(ann.id)]}
        ).status_code
        == 400
    )


def test_add_member_by_hand_records_who_did_it(editor_client, session):
    token = csrf_token(editor_client, "/admin/members/new")
    data = {
        "csrf_token": token,
        "email": "New@Example.com",
        "name": "New",
        "tier": "invite",
        "tags": "a, b",
    }
    response = editor_client.post("/admin/members/new", data=data)
    assert response.status_code == 302
    member = session.scalar(select(Member).where(Member.email == "new@example.com"))
    assert (member.tier, member.status, member.source) == ("invite", "active", "admin")
    event = session.scalar(select(ConsentEvent).where(ConsentEvent.member_id == member.id))
    assert event.action == "added" and event.detail == "added by editor@example.com"
    again = editor_client.post("/admin/members/new", data=data)
    assert again.status_code == 400 and "already a member" in again.get_data(as_text=True)


def test_member_page_shows_consent_history(editor_client, session):
    member = make_member(session, email="ann@example.com", fields={"city": "Oslo"})
    record_consent(session, member, "subscribe", source="form", ip="192.0.2.7")
    session.commit()
    html = editor_client.get(f"/admin/members/{member.id}").get_data(as_text=True)
    assert "192.0.2.7" in html and "subscribe" in html and "Oslo" in html
    assert editor_client.get("/admin/members/999999").status_code == 404


def test_segments_save_count_and_delete(editor_client, session):
    make_member(session, email="a@example.com", tier="paid")
    make_member(session, email="b@example.com", tier="paid", status="pending")
    count = editor_client.get("/admin/segments/count?expression=tier:paid")
    assert count.json == {"members": 2, "recipients": 1}
    bad = editor_client.get("/admin/segments/count?expression=tier:paid%20AND")
    assert bad.status_code == 400 and bad.json["position"] == 14
    token = csrf_token(editor_client, "/admin/segments")
    invalid = editor_client.post(
        "/admin/segments", data={"csrf_token": token, "name": "X", "expression": "tie:x"}
    )
    assert invalid.status_code == 400 and "unknown term" in invalid.get_data(as_text=True)
    saved = editor_client.post(
        "/admin/segments", data={"csrf_token": token, "name": "Paid", "expression": "tier:paid"}
    )
    assert saved.status_code == 302
    assert "Paid" in editor_client.get("/admin/segments").get_data(as_text=True)
    segment = session.scalar(select(Segment))
    editor_client.post(f"/admin/segments/{segment.id}/delete", data={"csrf_token": token})
    session.expire_all()
    assert session.scalar(select(Segment)) is None
