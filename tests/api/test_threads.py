"""``/api/v1/threads``: discussion threads and their posts, as the token's editor sees them."""

from __future__ import annotations

import pytest

from app.discussions import moderation, service
from app.discussions.models import Board
from tests.api.conftest import error_of
from tests.conftest import make_member
from tests.discussions.conftest import publish_issue, topic


@pytest.fixture
def people(session, editor):
    return {
        "free": make_member(session, email="free@example.com", name="Free Reader"),
        "paid": make_member(session, email="paid@example.com", tier="paid", name="Paid Reader"),
        "invite": make_member(session, email="invite@example.com", tier="invite"),
        "editor": editor,
    }


@pytest.fixture
def boards(session):
    made = {access: Board(slug=access, name=access, access=access) for access in ("public", "paid")}
    session.add_all(made.values())
    session.commit()
    return made


@pytest.fixture
def discussion(session, people, boards):
    issue = publish_issue(session, title="Sourdough", visibility="paid")
    thread = service.issue_thread(session, issue)
    first = service.create_post(session, people["paid"], thread, "Hello **all**")
    reply = service.create_post(session, people["invite"], thread, "Hi", parent_id=first.id)
    private = service.create_post(session, people["paid"], thread, "Only you", private=True)
    session.commit()
    return {"issue": issue, "thread": thread, "first": first, "reply": reply, "private": private}


def test_threads_of_an_issue_and_of_a_board(reader, session, people, boards, discussion):
    on_board = topic(session, boards["paid"], people["paid"], title="Ovens")
    topic(session, boards["public"], people["free"], title="Hello")
    by_issue = reader.get(f"/threads?issue={discussion['issue'].slug}").get_json()
    assert [t["id"] for t in by_issue["data"]] == [discussion["thread"].id]
    assert by_issue["data"][0]["post_count"] == 2
    by_board = reader.get("/threads?board=paid").get_json()["data"]
    assert [(t["id"], t["board"], t["title"]) for t in by_board] == [(on_board.id, "paid", "Ovens")]
    everything = reader.get("/threads?limit=2").get_json()
    assert len(everything["data"]) == 2 and everything["next_cursor"]
    rest = reader.get(f"/threads?limit=2&cursor={everything['next_cursor']}").get_json()
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None


def test_thread_filters_are_checked(reader, discussion):
    both = reader.get(f"/threads?issue={discussion['issue'].id}&board=paid")
    assert both.status_code == 400 and "not both" in error_of(both)["message"]
    assert reader.get("/threads?board=nope").status_code == 404
    assert reader.get("/threads?issue=nope").status_code == 404


def test_posts_come_as_the_editor_sees_them(reader, session, people, discussion):
    """shown_posts decides, with the token's editor as the viewer: private feedback and
    hidden posts are theirs to read; a deleted post with replies stays as a tombstone."""
    hidden = service.create_post(session, people["invite"], discussion["thread"], "Rude")
    moderation.set_post_status(session, people["editor"], hidden, "hidden", reason="rude")
    session.commit()
    body = reader.get(f"/threads/{discussion['thread'].id}/posts").get_json()
    posts = body["data"]
    assert [p["id"] for p in posts] == [
        discussion["first"].id, discussion["private"].id, hidden.id,
    ]  # fmt: skip
    first = posts[0]
    assert first["body_html"] == "<p>Hello <strong>all</strong></p>\n"
    assert first["author"] == {"id": people["paid"].id, "name": "Paid Reader"}
    assert [r["id"] for r in first["replies"]] == [discussion["reply"].id]
    assert posts[1]["private"] is True and posts[2]["status"] == "hidden"


def test_posts_are_paged_by_their_place_in_the_thread(reader, session, people, discussion):
    page = reader.get(f"/threads/{discussion['thread'].id}/posts?limit=1").get_json()
    assert [p["id"] for p in page["data"]] == [discussion["first"].id]
    following = reader.get(
        f"/threads/{discussion['thread'].id}/posts?limit=1&cursor={page['next_cursor']}"
    ).get_json()
    assert [p["id"] for p in following["data"]] == [discussion["private"].id]
    assert following["next_cursor"] is None
    members_cursor = reader.get("/threads?limit=1").get_json()["next_cursor"]
    wrong = reader.get(f"/threads/{discussion['thread'].id}/posts?cursor={members_cursor}")
    assert wrong.status_code == 400


def test_an_unknown_thread_is_404(reader):
    response = reader.get("/threads/4242/posts")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
