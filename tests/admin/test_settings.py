"""The editor sets the publication's name and the words on paywalls and in welcomes."""

from __future__ import annotations

from app.issues import service as issues
from tests.conftest import csrf_token, make_member, sign_in


def test_the_paywall_text_the_editor_writes_is_what_readers_without_access_see(
    app, session, client, editor
):
    issue = issues.save_issue(
        session,
        {
            "title": "Paid notes",
            "visibility": "paid",
            "body_markdown": "Open.\n\n<!-- more -->\n\nClosed.",
        },
    )
    issues.publish(session, issue)
    session.commit()
    sign_in(client, editor)
    token = csrf_token(client, "/admin/settings")
    saved = client.post(
        "/admin/settings",
        data={
            "csrf_token": token,
            "name": "The Levain Letter",
            "description": "Bread, slowly.",
            "paywall_text": "Members keep this letter going: join them for the whole issue.",
            "welcome_text": "Welcome in.",
        },
    )
    assert saved.status_code == 302
    reader = app.test_client()
    sign_in(reader, make_member(session, email="free@example.com"))
    page = reader.get(f"/issues/{issue.slug}").get_data(as_text=True)
    assert "Members keep this letter going" in page and "Closed." not in page
    session.expire_all()
    assert issues.publication(session).welcome_text == "Welcome in."


def test_settings_are_for_editors_and_need_the_form_token(app, session, client, editor):
    sign_in(client, make_member(session, email="reader@example.com"))
    assert client.get("/admin/settings").status_code in (302, 403)
    sign_in(client, editor)
    refused = client.post("/admin/settings", data={"name": "Hijacked"})
    assert refused.status_code == 400
    session.expire_all()
    assert issues.publication(session).name != "Hijacked"


def test_overlong_text_is_refused_with_a_clear_error(app, session, client, editor):
    sign_in(client, editor)
    token = csrf_token(client, "/admin/settings")
    response = client.post("/admin/settings", data={"csrf_token": token, "name": "x" * 201})
    assert response.status_code == 400
    assert "200" in response.get_data(as_text=True)


def test_the_editor_may_let_mailed_replies_come_from_any_address(client, session, editor):
    sign_in(client, editor)
    token = csrf_token(client, "/admin/settings")
    data = {"csrf_token": token, "name": "Crumb", "replies_from_any_address": "y"}
    assert client.post("/admin/settings", data=data).status_code == 302
    session.expire_all()
    assert issues.publication(session).replies_from_any_address is True
    data.pop("replies_from_any_address")
    data["csrf_token"] = csrf_token(client, "/admin/settings")
    client.post("/admin/settings", data=data)
    session.expire_all()
    assert issues.publication(session).replies_from_any_address is False
