"""``/account``: profile, preferences, email change, data export and erasure."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from app.members import audience, tokens
from app.members.models import ConsentEvent, Member
from app.members.subscriptions import record_consent
from tests.conftest import csrf_token, make_member, run_jobs, sign_in


def post(client, path: str, **data):
    return client.post(path, data={"csrf_token": csrf_token(client, "/account"), **data})


def mailed_path(smtp) -> str:
    text = smtp.received[-1].message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"http://localhost(/account/email/\S+)", text).group(1)


def fresh(session, member_id: int) -> Member | None:
    session.expire_all()
    return session.get(Member, member_id)


def test_account_needs_sign_in(client):
    response = client.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get("/account/export.json").status_code == 302


def test_account_shows_tier_and_saves_name_and_preferences(client, session):
    member = make_member(session, tier="invite")
    sign_in(client, member)
    assert "Invited (complimentary)" in client.get("/account").get_data(as_text=True)
    assert post(client, "/account/profile", name="Ines").status_code == 302
    post(client, "/account/preferences", email_issues="y", email_digest="y")
    saved = fresh(session, member.id)
    assert (
        saved.name == "Ines"
        and saved.email_issues
        and not saved.email_replies
        and saved.email_digest
    )


def test_changing_email_needs_the_new_address_confirmed(app, client, session, smtp, redis):
    member = make_member(session, email="old@example.com")
    sign_in(client, member)
    other_device = app.test_client()
    sign_in(other_device, member)
    response = post(client, "/account/email", email="New@Example.com")
    assert response.status_code == 302
    assert fresh(session, member.id).email == "old@example.com"  # nothing changes yet
    run_jobs(app)
    assert smtp.received[0].recipients == ["new@example.com"]
    path = mailed_path(smtp)
    page = client.get(path)
    assert "new@example.com" in page.get_data(as_text=True)
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)
    ).group(1)
    assert client.post(path, data={"csrf_token": token}).status_code == 302
    changed = fresh(session, member.id)
    assert changed.email == "new@example.com" and changed.pending_email is None
    assert client.get("/account").status_code == 200  # this browser stays signed in
    assert other_device.get("/account").status_code == 302  # every other session is signed out
    assert client.get(path).status_code == 400  # the link works once


def test_email_change_to_a_taken_address_is_refused(app, client, session, smtp, redis):
    member = make_member(session, email="mine@example.com")
    make_member(session, email="theirs@example.com")
    sign_in(client, member)
    post(client, "/account/email", email="theirs@example.com")
    run_jobs(app)
    path = mailed_path(smtp)
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 400 and "already belongs" in response.get_data(as_text=True)
    assert fresh(session, member.id).email == "mine@example.com"


def test_invalid_new_address_is_explained(client, session):
    sign_in(client, make_member(session))
    response = post(client, "/account/email", email="nope@")
    assert response.status_code == 400 and "flash-error" not in response.get_data(as_text=True)
    assert "error" in response.get_data(as_text=True)


def test_export_holds_everything_about_me_and_nothing_about_others(client, session):
    me = make_member(session, email="me@example.com", name="Me", fields={"city": "Lyon"})
    other = make_member(session, email="other@example.com")
    record_consent(session, me, "subscribe", source="form", ip="10.0.0.1")
    record_consent(session, other, "subscribe", source="form", ip="10.9.9.9")
    session.commit()
    sign_in(client, me)
    response = client.get("/account/export.json")
    assert response.headers["Content-Disposition"].startswith("attachment")
    data = json.loads(response.data)
    assert data["member"]["email"] == "me@example.com" and data["member"]["fields"] == {
        "city": "Lyon"
    }
    assert [event["ip"] for event in data["consent_history"]] == ["10.0.0.1"]
    assert "other@example.com" not in response.get_data(as_text=True)


def test_delete_needs_the_address_typed(client, session):
    member = make_member(session, email="me@example.com")
    sign_in(client, member)
    response = post(client, "/account/delete", confirm_email="someone@example.com")
    assert response.status_code == 400 and "nothing was deleted" in response.get_data(as_text=True)
    assert fresh(session, member.id) is not None


def test_delete_erases_the_member_and_keeps_only_hashed_consent(client, session):
    member = make_member(session, email="me@example.com", name="Private Name")
    record_consent(session, member, "subscribe", source="form", ip="10.0.0.1")
    session.commit()
    sign_in(client, member)
    response = post(client, "/account/delete", confirm_email="ME@example.com")
    assert response.status_code == 302
    assert fresh(session, member.id) is None
    events = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
    assert [event.action for event in events] == ["subscribe", "deleted"]
    assert all(event.member_id is None for event in events)
    assert {event.email_hash for event in events} == {tokens.email_hash("me@example.com")}
    assert client.get("/account").status_code == 302  # signed out


def test_an_erased_editor_leaves_the_consent_records_of_members_they_added(client, session):
    """ "added by ann@example.com" would outlive Ann's erasure; the record stays, nameless."""
    editor = make_member(session, email="ann@example.com", role="editor")
    added = audience.add_member(session, "bo@example.com", editor=editor.email)
    by_token = audience.add_member(
        session, "cy@example.com", editor=f"{editor.email} with the API token “writer”"
    )
    other = audience.add_member(session, "di@example.com", editor="zed@example.com")
    session.commit()
    sign_in(client, editor)
    assert post(client, "/account/delete", confirm_email="ann@example.com").status_code == 302
    session.expire_all()
    details = {
        event.member_id: event.detail
        for event in session.scalars(select(ConsentEvent).where(ConsentEvent.action == "added"))
    }
    assert details == {
        added.id: "added by a former editor",
        by_token.id: "added by a former editor with the API token “writer”",
        other.id: "added by zed@example.com",
    }


@pytest.mark.parametrize(
    "path",
    ["/account/profile", "/account/preferences", "/account/email", "/account/delete", "/logout"],
)
def test_account_changes_need_the_csrf_token(client, session, path):
    member = make_member(session, email="me@example.com", name="Kept")
    sign_in(client, member)
    response = client.post(
        path, data={"name": "Changed", "email": "x@example.com", "confirm_email": "me@example.com"}
    )
    assert response.status_code in (400, 302)
    kept = fresh(session, member.id)
    assert kept is not None and kept.name == "Kept" and kept.pending_email is None
    assert client.get("/account").status_code == 200  # still signed in
