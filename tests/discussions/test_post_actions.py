"""Editing and deleting one's own post, reactions, reports and the editors' controls, as the
web does them (the matrix of who may do what is in test_views.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.discussions import service
from app.discussions.models import ModerationAction, Post, PostReport, Reaction
from tests.conftest import sign_in
from tests.discussions.web import build_place, form_token, snapshot, text


@pytest.fixture
def place(session, people):
    return build_place(session, people, "members")


def send(client, path, who="free", **data):
    return client.post(path, data={"csrf_token": form_token(client, who)} | data)


# --- editing and deleting one's own post ---------------------------------------------------


def test_an_author_edits_within_the_window(client, session, people, place):
    sign_in(client, people["paid"])
    page = client.get(f"/posts/{place.post.id}/edit")
    assert page.status_code == 200 and place.words in text(page)
    saved = send(client, f"/posts/{place.post.id}/edit", "paid", body="Crumb, *revised*.")
    assert saved.status_code == 303
    assert saved.headers["Location"] == f"/t/{place.thread.id}#post-{place.post.id}"
    html = text(client.get(f"/t/{place.thread.id}"))
    assert "Crumb, <em>revised</em>." in html and ">edited</span>" in html


def test_an_edit_that_is_too_long_keeps_the_words(client, session, people, place):
    sign_in(client, people["paid"])
    before = snapshot(session)
    body = "b" * (service.MAX_BODY + 1)
    response = send(client, f"/posts/{place.post.id}/edit", "paid", body=body)
    assert response.status_code == 400 and "That is too long" in text(response)
    assert body in text(response) and snapshot(session) == before


def test_the_edit_window_closes(client, session, people, place):
    place.post.created_at -= timedelta(minutes=16)
    session.commit()
    sign_in(client, people["paid"])
    html = text(client.get(f"/t/{place.thread.id}"))
    assert f"/posts/{place.post.id}/edit" not in html and f"/posts/{place.private.id}/edit" in html
    response = client.get(f"/posts/{place.post.id}/edit")
    assert response.status_code == 403 and "15 minutes" in text(response)
    refused = send(client, f"/posts/{place.post.id}/delete", "paid")
    assert refused.status_code == 403 and session.get(Post, place.post.id).status == "visible"


def test_an_author_deletes_and_replies_keep_a_tombstone(client, session, people, place):
    service.create_post(session, people["free"], place.thread, "Agreed", parent_id=place.post.id)
    session.commit()
    sign_in(client, people["paid"])
    response = send(client, f"/posts/{place.post.id}/delete", "paid")
    assert response.status_code == 303
    html = text(client.get(response.headers["Location"]))
    assert "Your post was removed." in html and "This post was removed." in html
    assert place.words not in html and "Agreed" in html
    session.expire_all()
    assert session.get(Post, place.post.id).body_markdown == ""


# --- reactions ---------------------------------------------------------------------------


def test_a_reaction_toggles_and_shows_as_pressed(client, session, people, place):
    sign_in(client, people["free"])
    path = f"/posts/{place.post.id}/reactions"
    on = send(client, path, kind="heart", return_to="issue")
    assert on.status_code == 303
    assert on.headers["Location"] == f"/issues/{place.issue.slug}#post-{place.post.id}"
    html = text(client.get(f"/t/{place.thread.id}"))
    form = html.split(f'action="{path}"')[1].split("</form>")[0]  # one form, a button per kind
    heart = form.split('value="heart"')[1].split("</button>")[0]
    assert 'aria-pressed="true"' in heart and '<span class="count">1</span>' in heart
    assert form.count('aria-pressed="false"') == 4
    assert send(client, path, kind="heart").status_code == 303
    assert session.scalars(select(Reaction)).all() == []


def test_a_reaction_in_place_answers_json(client, session, people, place):
    sign_in(client, people["invite"])
    path = f"/posts/{place.post.id}/reactions"
    headers = {"Accept": "application/json"}
    data = {"kind": "like", "csrf_token": form_token(client, "invite")}
    first = client.post(path, data=data, headers=headers)
    assert first.status_code == 200 and first.get_json() == {"pressed": True, "count": 1}
    sign_in(client, people["free"])
    data["csrf_token"] = form_token(client, "free")
    assert client.post(path, data=data, headers=headers).get_json() == {"pressed": True, "count": 2}
    assert client.post(path, data=data, headers=headers).get_json() == {
        "pressed": False,
        "count": 1,
    }


def test_an_unknown_reaction_is_refused(client, session, people, place):
    sign_in(client, people["free"])
    response = send(client, f"/posts/{place.post.id}/reactions", kind="<script>")
    assert response.status_code == 400 and "Choose one of the reactions" in text(response)


def test_reactions_are_counts_only_for_readers_who_cannot_react(client, session, people):
    place = build_place(session, people, "public")
    service.toggle_reaction(session, people["paid"], place.post, "laugh")
    session.commit()
    html = text(client.get(f"/t/{place.thread.id}"))
    assert "😄" in html and "reaction-form" not in html


# --- reports -----------------------------------------------------------------------------


def test_a_member_reports_a_post_once(client, session, people, place):
    sign_in(client, people["free"])
    path = f"/posts/{place.post.id}/report"
    first = send(client, path, reason="Advertising")
    assert first.status_code == 303
    assert "Thank you: the editors will look" in text(client.get(first.headers["Location"]))
    again = send(client, path, reason="Still advertising")
    assert "You reported this post already" in text(client.get(again.headers["Location"]))
    reports = session.scalars(select(PostReport)).all()
    assert [(r.reporter_id, r.reason) for r in reports] == [(people["free"].id, "Advertising")]


def test_a_report_reason_that_is_too_long_is_refused(client, session, people, place):
    sign_in(client, people["free"])
    response = send(client, f"/posts/{place.post.id}/report", reason="r" * 2001)
    assert response.status_code == 400 and "under 2,000 characters" in text(response)
    assert session.scalars(select(PostReport)).all() == []


def test_reports_are_rate_limited(client, session, people, place):
    sign_in(client, people["free"])
    path = f"/posts/{place.post.id}/report"
    statuses = [send(client, path).status_code for _ in range(11)]
    assert statuses[:10] == [303] * 10 and statuses[10] == 429


# --- the editors' controls ---------------------------------------------------------------


def test_an_editor_hides_and_unhides_a_post(client, session, people, place):
    sign_in(client, people["editor"])
    path = f"/posts/{place.post.id}/moderate"
    hidden = send(client, path, "editor", action="hide", reason="Heated")
    assert hidden.status_code == 303 and "Hidden: only its author" in text(
        client.get(hidden.headers["Location"])
    )
    sign_in(client, people["invite"])
    assert place.words not in text(client.get(f"/t/{place.thread.id}"))
    sign_in(client, people["paid"])
    own = text(client.get(f"/t/{place.thread.id}"))
    assert place.words in own and "A moderator hid this post" in own
    sign_in(client, people["editor"])
    assert send(client, path, "editor", action="unhide").status_code == 303
    log = session.scalars(select(ModerationAction).order_by(ModerationAction.id)).all()
    assert [(a.action, a.target_type, a.reason) for a in log] == [
        ("hide", "post", "Heated"),
        ("unhide", "post", ""),
    ]


def test_an_editor_deletes_a_post_for_good(client, session, people, place):
    sign_in(client, people["editor"])
    path = f"/posts/{place.post.id}/moderate"
    assert send(client, path, "editor", action="delete", reason="Spam").status_code == 303
    again = send(client, path, "editor", action="hide")
    assert again.status_code == 400 and "That post is deleted." in text(again)
    session.expire_all()
    assert session.get(Post, place.post.id).status == "deleted"
    unknown = send(client, path, "editor", action="explode")
    assert unknown.status_code == 400 and "Choose hide, unhide or delete." in text(unknown)


@pytest.mark.parametrize(
    ("action", "flag", "value", "log"),
    [
        ("lock", "locked", True, "lock-thread"),
        ("pin", "pinned", True, "pin-thread"),
        ("hide", "hidden", True, "hide-thread"),
    ],
)
def test_an_editor_sets_thread_flags(client, session, people, place, action, flag, value, log):
    sign_in(client, people["editor"])
    path = f"/t/{place.thread.id}/moderate"
    response = send(client, path, "editor", action=action, reason="Because")
    assert response.status_code == 303
    session.expire_all()
    assert getattr(place.thread, flag) is value
    entry = session.scalars(select(ModerationAction)).one()
    assert (entry.action, entry.target_id, entry.reason) == (log, place.thread.id, "Because")
    undo = send(client, path, "editor", action="un" + action)
    assert undo.status_code == 303
    session.expire_all()
    assert getattr(place.thread, flag) is not value


def test_editor_tools_show_to_editors_only(client, session, people, place):
    sign_in(client, people["paid"])
    assert "Editor tools" not in text(client.get(f"/t/{place.thread.id}"))
    sign_in(client, people["editor"])
    html = text(client.get(f"/t/{place.thread.id}"))
    assert "Editor tools" in html and f'action="/posts/{place.post.id}/moderate"' in html
    issue_page = text(client.get(f"/issues/{place.issue.slug}"))
    assert 'name="return_to" value="issue"' in issue_page and "Editor tools" in issue_page
