"""``/admin/boards``: the editor makes, edits, orders and deletes forum boards."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.discussions import boards, forums, service
from app.discussions.models import Board, Post, ReadMarker, Thread
from tests.conftest import csrf_token, make_member, sign_in

PAGE = "/admin/boards"


@pytest.fixture
def signed_in_editor(client, editor):
    sign_in(client, editor)
    return editor


def post(client, path: str, form_page: str = PAGE, **data):
    return client.post(path, data={"csrf_token": csrf_token(client, form_page), **data})


def make(session, slug: str, access: str = "members", name: str | None = None) -> Board:
    board = boards.create_board(session, boards.BoardFields(slug, name or slug.title(), "", access))
    session.commit()
    return board


def order(session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(Board.slug).order_by(Board.position, Board.id)))


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", PAGE), ("post", PAGE), ("get", f"{PAGE}/1"), ("post", f"{PAGE}/1/move"),
     ("get", f"{PAGE}/1/delete"), ("post", f"{PAGE}/1/delete")],
)  # fmt: skip
def test_only_editors_manage_boards(app, session, method, path):
    board = make(session, "general")
    path = path.replace("/1", f"/{board.id}")
    data = {"slug": "x", "name": "X", "access": "public", "direction": "up", "confirm_topics": ""}
    for viewer, expected in ((None, 302), (make_member(session, tier="paid"), 403)):
        client = app.test_client()
        if viewer is not None:
            sign_in(client, viewer)
        data["csrf_token"] = csrf_token(client, "/login")
        response = client.post(path, data=data) if method == "post" else client.get(path)
        assert response.status_code == expected
        if expected == 302:
            assert response.headers["Location"].startswith("/login")
    assert order(session) == ["general"]


def test_an_editor_creates_a_board_that_the_forum_lists(client, session, signed_in_editor):
    made = post(
        client, PAGE, name="  Bread   talk ", slug="Bread-Talk", description="Crumb and crust.",
        access="public",
    )  # fmt: skip
    assert made.status_code == 303
    board = session.scalars(select(Board)).one()
    assert (board.slug, board.name, board.description, board.access, board.position) == (
        "bread-talk", "Bread talk", "Crumb and crust.", "public", 0,
    )  # fmt: skip
    listed = client.get(PAGE).get_data(as_text=True)
    assert "Board “Bread talk” created." in listed and "/forum/bread-talk" in listed
    forum = client.get("/forum").get_data(as_text=True)
    assert 'href="/forum/bread-talk"' in forum and "Crumb and crust." in forum
    second = post(client, PAGE, name="Second", slug="second", access="members")
    assert second.status_code == 303 and order(session) == ["bread-talk", "second"]


@pytest.mark.parametrize(
    ("data", "field_error"),
    [
        ({"name": "X", "slug": ""}, "A board needs a slug"),
        ({"name": "X", "slug": "has space"}, "lower-case letters, digits and single hyphens"),
        ({"name": "X", "slug": "-edge"}, "lower-case letters"),
        ({"name": "X", "slug": "double--hyphen"}, "lower-case letters"),
        ({"name": "X", "slug": "ünïcode"}, "lower-case letters"),
        ({"name": "X", "slug": "x" * 81}, "at most 80"),
        ({"name": "X", "slug": "search"}, "/forum/search is a page of its own"),
        ({"name": "X", "slug": "mark-read"}, "is a page of its own"),
        ({"name": "X", "slug": "taken"}, "Another board already has the slug &#39;taken&#39;"),
        ({"name": "X", "slug": "TAKEN"}, "already has the slug"),
        ({"name": "", "slug": "fine"}, "A board needs a name."),
        ({"name": "   ", "slug": "fine"}, "A board needs a name."),
        ({"name": "n" * 201, "slug": "fine"}, "at most 200 characters"),
        ({"name": "X", "slug": "fine", "description": "d" * 2001}, "At most 2000 characters."),
        ({"name": "X", "slug": "fine", "access": "secret"}, "Not a valid choice"),
    ],
)
def test_bad_boards_are_clear_errors_and_change_nothing(
    client, session, signed_in_editor, data, field_error
):
    make(session, "taken")
    response = post(client, PAGE, **({"access": "members"} | data))
    assert response.status_code == 400
    assert field_error in response.get_data(as_text=True)
    assert order(session) == ["taken"]


def test_an_editor_edits_name_description_access_and_slug(client, session, signed_in_editor):
    board = make(session, "general")
    make(session, "other")
    path = f"{PAGE}/{board.id}"
    form = client.get(path)
    assert form.status_code == 200 and 'value="general"' in form.get_data(as_text=True)
    saved = post(
        client, path, path, name="Chat", slug="chat", description="Anything.", access="paid"
    )
    assert saved.status_code == 303
    session.expire_all()
    board = session.get(Board, board.id)
    assert (board.name, board.slug, board.description, board.access) == (
        "Chat", "chat", "Anything.", "paid",
    )  # fmt: skip
    assert (
        client.get("/forum/chat").status_code == 200
        and client.get("/forum/general").status_code == 404
    )

    clash = post(client, path, path, name="Chat", slug="other", access="paid")
    assert clash.status_code == 400 and "already has the slug" in clash.get_data(as_text=True)
    same = post(client, path, path, name="Chat again", slug="chat", access="paid")
    assert same.status_code == 303  # keeping its own slug is fine
    bad = post(client, path, path, name="", slug="chat", access="paid")
    assert bad.status_code == 400
    session.expire_all()
    assert session.get(Board, board.id).name == "Chat again"


def test_reordering_moves_one_step_and_stops_at_the_ends(client, session, signed_in_editor):
    made = [make(session, slug) for slug in ("a", "b", "c")]
    made[2].position = made[1].position  # a tie, as an old database might hold
    session.commit()

    def move(board, direction):
        return post(client, f"{PAGE}/{board.id}/move", direction=direction)

    assert move(made[2], "up").status_code == 303
    assert order(session) == ["a", "c", "b"]
    assert move(made[2], "up").status_code == 303 and order(session) == ["c", "a", "b"]
    assert move(made[2], "up").status_code == 303 and order(session) == ["c", "a", "b"]
    assert move(made[1], "down").status_code == 303 and order(session) == ["c", "a", "b"]
    assert move(made[0], "down").status_code == 303 and order(session) == ["c", "b", "a"]
    assert move(made[0], "sideways").status_code == 400
    assert post(client, f"{PAGE}/99999/move", direction="up").status_code == 404
    forum = client.get("/forum").get_data(as_text=True)
    assert forum.index(">C</a>") < forum.index(">B</a>") < forum.index(">A</a>")


def test_deleting_an_empty_board_asks_once(client, session, signed_in_editor):
    path = f"{PAGE}/{make(session, 'empty').id}"
    page = client.get(f"{path}/delete")
    assert page.status_code == 200 and "It has no topics" in page.get_data(as_text=True)
    deleted = post(client, f"{path}/delete", f"{path}/delete")
    assert deleted.status_code == 303 and order(session) == []
    assert "Board “Empty” deleted." in client.get(PAGE).get_data(as_text=True)
    assert client.get(f"{path}/delete").status_code == 404
    assert client.get(path).status_code == 404


def test_deleting_a_board_with_topics_needs_their_confirmation(
    client, session, signed_in_editor, editor
):
    board, kept = make(session, "busy"), make(session, "kept")
    member = make_member(session, tier="paid")
    for number in range(2):
        made = forums.create_topic(session, editor, board, f"Topic {number}", "Hello")
        service.create_post(session, member, made, "A reply")
        service.mark_read(session, member, made)
    forums.create_topic(session, editor, kept, "Stays", "Still here")
    session.commit()
    path = f"{PAGE}/{board.id}/delete"
    page = client.get(path).get_data(as_text=True)
    assert "2 topics" in page and "4 posts" in page and 'value="2"' in page

    unconfirmed = post(client, path, path)
    assert unconfirmed.status_code == 400
    assert "confirm that they are deleted with it" in unconfirmed.get_data(as_text=True)
    stale = post(client, path, path, confirm_topics="1")  # a topic arrived since the page
    assert stale.status_code == 400 and order(session) == ["busy", "kept"]
    assert post(client, path, path, confirm_topics="two").status_code == 400

    assert post(client, path, path, confirm_topics="2").status_code == 303
    session.expire_all()
    assert order(session) == ["kept"]
    assert session.scalars(select(Thread.title)).all() == ["Stays"]
    assert session.scalar(select(func.count()).select_from(Post)) == 1
    assert session.scalar(select(func.count()).select_from(ReadMarker)) == 1  # the editor's


def test_forms_without_a_csrf_token_change_nothing(client, session, signed_in_editor):
    board = make(session, "general")
    assert client.post(PAGE, data={"name": "X", "slug": "x"}).status_code == 400
    assert client.post(f"{PAGE}/{board.id}", data={"name": "Y", "slug": "y"}).status_code == 400
    assert client.post(f"{PAGE}/{board.id}/move", data={"direction": "up"}).status_code == 400
    assert client.post(f"{PAGE}/{board.id}/delete").status_code == 400
    assert order(session) == ["general"]
    assert session.get(Board, board.id).name == "General"
