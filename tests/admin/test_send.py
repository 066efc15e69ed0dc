"""Sending from the editor: pick a segment, confirm, and see the counts."""

from __future__ import annotations

from sqlalchemy import select

from app.issues import service as issues
from app.sending.models import Delivery
from tests.conftest import csrf_token, make_member, run_jobs, sign_in


def test_editor_sends_an_issue_and_sees_its_progress(app, client, session, editor, smtp, redis):
    issue = issues.save_issue(session, {"title": "Rye notes", "body_markdown": "Rye loves water."})
    make_member(session, email="reader@example.com")
    session.commit()
    sign_in(client, editor)
    page = f"/admin/issues/{issue.id}"
    assert "Send by email" in client.get(page).get_data(as_text=True)
    token = csrf_token(client, page)
    refused = client.post(f"{page}/send", data={"csrf_token": token, "expression": "all"})
    assert refused.status_code == 400 and session.scalar(select(Delivery.id)) is None  # unconfirmed
    bad = client.post(
        f"{page}/send", data={"csrf_token": token, "expression": "tier:gold", "confirm": "y"}
    )
    assert bad.status_code == 400 and "unknown tier" in bad.get_data(as_text=True)
    sent = client.post(
        f"{page}/send", data={"csrf_token": token, "expression": "all", "confirm": "y"}
    )
    assert sent.status_code == 302
    run_jobs(app)
    assert sorted(m.recipients[0] for m in smtp.received) == [
        "editor@example.com",
        "reader@example.com",
    ]
    html = client.get(page).get_data(as_text=True)
    assert "Sent 2 of 2" in html
    assert client.get("/issues/rye-notes").status_code == 200  # sending published it


def test_only_editors_can_send(client, session):
    issue = issues.save_issue(session, {"title": "Private"})
    member = make_member(session)
    session.commit()
    sign_in(client, member)
    data = {"csrf_token": csrf_token(client, "/account"), "expression": "all", "confirm": "y"}
    response = client.post(f"/admin/issues/{issue.id}/send", data=data)
    assert response.status_code == 403 and session.scalar(select(Delivery.id)) is None


def test_an_editor_can_mail_themselves_a_test_copy(app, client, session, editor, smtp, redis):
    issue = issues.save_issue(
        session, {"title": "Draft letter", "body_markdown": "Not yet public."}
    )
    make_member(session, email="reader@example.com")
    session.commit()
    sign_in(client, editor)
    page = f"/admin/issues/{issue.id}"
    response = client.post(f"{page}/test", data={"csrf_token": csrf_token(client, page)})
    assert response.status_code == 302
    run_jobs(app)
    [message] = smtp.received
    assert message.recipients == ["editor@example.com"]
    assert message.message["Subject"] == "[Test] Draft letter"
    assert "Not yet public." in message.message.get_body(("plain",)).get_content()
    assert session.scalar(select(Delivery.id)) is None  # a test is no delivery
    assert client.get("/issues/draft-letter").status_code == 404  # and publishes nothing
