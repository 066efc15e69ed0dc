"""The editor's screens: who may enter, writing, previewing, publishing, and the outbox."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.issues.models import Issue
from app.sending import mailer
from tests.conftest import csrf_token, make_member, sign_in

ADMIN_PAGES = ["/admin/issues", "/admin/issues/new", "/admin/outbox"]


@pytest.fixture
def editor_client(client, editor):
    sign_in(client, editor)
    return client


def save(client, path="/admin/issues/new", action="save", **fields):
    data = {
        "title": "",
        "subtitle": "",
        "slug": "",
        "excerpt": "",
        "body_markdown": "",
        "visibility": "public",
        "action": action,
        "csrf_token": csrf_token(client, path),
    }
    data.update(fields)
    return client.post(path, data=data)


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_members_who_are_not_editors_are_refused(client, session, path):
    sign_in(client, make_member(session))
    assert client.get(path).status_code == 403


def test_write_save_publish_and_read(editor_client, session):
    response = save(
        editor_client, title="First Rise", body_markdown="## Steps\n\nFeed the starter."
    )
    assert response.status_code == 302
    issue = session.scalar(select(Issue).where(Issue.slug == "first-rise"))
    assert issue.status == "draft" and '<h2 id="steps">' in issue.body_html
    assert editor_client.get("/issues/first-rise").status_code == 404  # drafts are not public

    edit_path = f"/admin/issues/{issue.id}"
    published = save(
        editor_client,
        edit_path,
        action="publish",
        title="First Rise",
        slug="first-rise",
        body_markdown="## Steps\n\nFeed the starter daily.",
    )
    assert published.status_code == 302
    assert "Published" in editor_client.get(edit_path).get_data(as_text=True)
    anonymous = editor_client.application.test_client()
    assert "Feed the starter daily." in anonymous.get("/issues/first-rise").get_data(as_text=True)


def test_preview_button_renders_without_saving(editor_client, session):
    response = save(editor_client, action="preview", title="Unsaved", body_markdown="*soft* crumb")
    assert response.status_code == 200
    assert "<em>soft</em> crumb" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Issue)) == 0


def test_preview_shows_the_header_and_what_readers_without_access_see(editor_client):
    token = csrf_token(editor_client, "/admin/issues/new")
    body = "Free part.\n\n<!-- more -->\n\nPaid part."
    data = {"csrf_token": token, "body_markdown": body, "title": "Paid notes", "visibility": "paid"}
    html = editor_client.post("/admin/preview", data=data).get_data(as_text=True)
    assert "<h1>Paid notes</h1>" in html and "What readers without access see" in html
    teaser = html.split("What readers without access see")[1]
    assert "Free part." in teaser and "Paid part." not in teaser


def test_live_preview_endpoint_returns_the_sanitized_reader_html(editor_client):
    token = csrf_token(editor_client, "/admin/issues/new")
    response = editor_client.post(
        "/admin/preview",
        data={
            "csrf_token": token,
            "body_markdown": "# Hi\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<h1>Hi</h1>" in html
    assert "<script>" not in html and 'href="javascript' not in html
    assert editor_client.post("/admin/preview", data={"body_markdown": "x"}).status_code == 400


def test_duplicate_slug_is_explained_and_nothing_is_saved(editor_client, session):
    save(editor_client, title="Taken", slug="taken")
    response = save(editor_client, title="Another", slug="taken", body_markdown="Kept in the form")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "already used by another issue" in html and "Nothing was saved" in html
    assert "Kept in the form" in html  # the editor loses nothing they typed
    assert session.scalar(select(func.count()).select_from(Issue)) == 1


def test_missing_title_is_explained(editor_client):
    response = save(editor_client, title="", body_markdown="words")
    assert response.status_code == 400 and "A title is required." in response.get_data(as_text=True)


def test_saving_without_csrf_is_refused(editor_client, session):
    response = editor_client.post("/admin/issues/new", data={"title": "No token", "action": "save"})
    assert response.status_code == 400
    assert session.scalar(select(func.count()).select_from(Issue)) == 0


def test_oversized_body_is_refused_cleanly(editor_client):
    response = save(editor_client, title="Huge", body_markdown="x" * 400_001)
    assert response.status_code in (400, 413)


def test_unknown_issue_id_is_404(editor_client):
    assert editor_client.get("/admin/issues/999999").status_code == 404


def test_outbox_lists_and_shows_mail_in_a_sandbox(app, editor_client):
    with app.app_context():
        mailer.send_transactional(
            "reader@example.com",
            "Hello outbox",
            "login",
            publication="P",
            name="R",
            link="http://localhost/login/x",
            minutes=15,
        )
    listing = editor_client.get("/admin/outbox").get_data(as_text=True)
    assert "Hello outbox" in listing and "reader@example.com" in listing
    key = listing.split('href="/admin/outbox/')[1].split('"')[0]
    page = editor_client.get(f"/admin/outbox/{key}").get_data(as_text=True)
    assert "http://localhost/login/x" in page and "sandbox" in page
    frame = editor_client.get(f"/admin/outbox/{key}/html")
    assert frame.status_code == 200 and "sandbox" in frame.headers["Content-Security-Policy"]
    assert editor_client.get("/admin/outbox/../../etc/passwd").status_code == 404
    assert editor_client.get("/admin/outbox/nope").status_code == 404


def test_an_unknown_action_saves_nothing(editor_client, session):
    response = save(editor_client, action="delete-everything", title="Sneaky")
    assert response.status_code == 400 and "Unknown action" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Issue)) == 0


def test_published_issues_offer_update_not_save_draft(editor_client, session):
    save(editor_client, action="publish", title="Live one")
    issue = session.scalar(select(Issue).where(Issue.slug == "live-one"))
    html = editor_client.get(f"/admin/issues/{issue.id}").get_data(as_text=True)
    assert "Update" in html and "Unpublish" in html and "Save draft" not in html
