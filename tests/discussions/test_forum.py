"""``/forum``: boards, topics, starting topics, unread markers and search, as every kind of
reader, against public, members and paid boards.

Each board's first topic carries a unique sentence; every surface is asked as every kind of
viewer, and the sentence (and the topic's title) must show only where the policy in
``members.access`` lets that viewer read the board.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.db import utcnow
from app.discussions import forums, moderation, service
from app.discussions.models import Board, Post, ReadMarker, Thread
from tests.conftest import counted_statements, csrf_token, make_member, sign_in
from tests.discussions.conftest import topic

VIEWERS = ("anonymous", "pending", "free", "paid", "invite", "editor")
READERS = {
    "public": set(VIEWERS),
    "members": {"free", "paid", "invite", "editor"},
    "paid": {"paid", "invite", "editor"},
}
SECRETS = {
    "public": "Canary on the open board: the crumb shatters like glass.",
    "members": "Canary for members: autolyse for exactly thirty-seven minutes.",
    "paid": "Canary for paying readers: the levain is fed with pear juice.",
}
TITLES = {access: f"Canary topic on the {access} board" for access in SECRETS}


@pytest.fixture
def canaries(session, boards, people):
    """One topic per board, started by the editor, with the board's secret sentence."""
    made = {}
    for access, board in boards.items():
        made[access] = forums.create_topic(
            session, people["editor"], board, TITLES[access], SECRETS[access]
        )
    session.commit()
    return made


def client_for(app, people, viewer):
    client = app.test_client()
    if viewer != "anonymous":
        sign_in(client, people[viewer])  # a pending member's session is refused: anonymous
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def unmarked(response) -> str:
    """The page without the search's <mark> highlights, to look for whole sentences."""
    return text(response).replace("<mark>", "").replace("</mark>", "")


# --- who sees what ---------------------------------------------------------------------------


@pytest.mark.parametrize("viewer", VIEWERS)
def test_the_index_lists_every_board_and_locks_the_unreadable(app, people, canaries, viewer):
    page = client_for(app, people, viewer).get("/forum")
    assert page.status_code == 200
    html = text(page)
    for access in READERS:
        assert f"{access.capitalize()} board" in html
        readable = viewer in READERS[access]
        assert (f'href="/forum/{access}"' in html) is readable
        assert TITLES[access] not in html and SECRETS[access] not in html
    if viewer not in READERS["paid"]:
        assert "Locked: </span>Paid board" in html
        assert ("upgrade in your account" if viewer == "free" else ">sign in</a>") in html
        assert ("/account#membership" in html) is (viewer == "free")
    else:
        assert "Locked:" not in html


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("access", READERS)
def test_a_board_shows_its_topics_only_to_its_readers(app, people, canaries, viewer, access):
    page = client_for(app, people, viewer).get(f"/forum/{access}")
    readable = viewer in READERS[access]
    assert page.status_code == (200 if readable else 403)
    assert (TITLES[access] in text(page)) is readable
    assert SECRETS[access] not in text(page)  # posts are read at /t/<id>, not here
    if readable:
        assert f'href="/t/{canaries[access].id}"' in text(page)
    else:
        assert "This board is for" in text(page)


@pytest.mark.parametrize("viewer", VIEWERS)
def test_search_finds_a_board_s_posts_only_for_its_readers(app, people, canaries, viewer):
    client = client_for(app, people, viewer)
    everywhere = client.get("/forum/search?q=canary")
    assert everywhere.status_code == 200
    for access in READERS:
        readable = viewer in READERS[access]
        assert (SECRETS[access] in unmarked(everywhere)) is readable
        assert (TITLES[access] in unmarked(everywhere)) is readable
        one_board = client.get(f"/forum/search?q=canary&board={access}")
        assert one_board.status_code == (200 if readable else 403)
        assert (SECRETS[access] in unmarked(one_board)) is readable
        if readable:
            for other in set(READERS) - {access}:
                assert SECRETS[other] not in unmarked(one_board)


@pytest.mark.parametrize("viewer", VIEWERS)
@pytest.mark.parametrize("access", READERS)
def test_only_members_who_read_a_board_start_topics_there(
    app, session, people, boards, viewer, access
):
    client = client_for(app, people, viewer)
    path = f"/forum/{access}/new"
    form = client.get(path)
    token = csrf_token(client, "/login")  # any form's token: it is the session's
    posted = client.post(path, data={"csrf_token": token, "title": "Mine", "body": "Hello there"})
    created = session.scalars(select(Thread).where(Thread.title == "Mine")).all()
    if viewer in ("anonymous", "pending"):
        assert form.status_code == posted.status_code == 302
        assert "/login" in form.headers["Location"]
        assert created == []
    elif viewer in READERS[access]:
        assert form.status_code == 200 and 'name="title"' in text(form)
        assert posted.status_code == 303 and posted.headers["Location"] == f"/t/{created[0].id}"
    else:
        assert form.status_code == posted.status_code == 403
        assert created == []


# --- starting a topic ------------------------------------------------------------------------


def start(client, slug: str, **data):
    token = csrf_token(client, f"/forum/{slug}/new")
    return client.post(f"/forum/{slug}/new", data={"csrf_token": token, **data})


def test_a_new_topic_is_a_thread_with_its_first_post(client, session, people, boards):
    sign_in(client, people["free"])
    response = start(client, "members", title="  Rye   or spelt? ", body="Which *flour*?")
    thread = session.scalars(select(Thread).where(Thread.kind == "topic")).one()
    assert response.status_code == 303 and response.headers["Location"] == f"/t/{thread.id}"
    assert (thread.title, thread.board_id, thread.author_id, thread.post_count) == (
        "Rye or spelt?",
        boards["members"].id,
        people["free"].id,
        1,
    )
    post = session.scalars(select(Post).where(Post.thread_id == thread.id)).one()
    assert post.body_html == "<p>Which <em>flour</em>?</p>\n" and post.author_id == thread.author_id
    listed = text(client.get("/forum/members"))
    assert "Rye or spelt?" in listed and "Free Reader" in listed and "0 replies" in listed
    assert "Unread</strong>" not in listed  # one's own topic is not news


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"title": "", "body": "Body"}, 400, "A topic needs a title."),
        ({"title": "   ", "body": "Body"}, 400, "A topic needs a title."),
        ({"title": "x" * 201, "body": "Body"}, 400, "At most 200 characters."),
        ({"title": "Fine", "body": ""}, 400, "Write something first."),
        ({"title": "Fine", "body": " \n "}, 400, "Write something first."),
        ({"title": "Fine", "body": "x" * (service.MAX_BODY + 1)}, 400, "At most 20,000"),
    ],
)
def test_bad_topics_are_clear_errors_and_create_nothing(
    client, session, people, boards, data, status, message
):
    sign_in(client, people["paid"])
    response = start(client, "paid", **data)
    assert response.status_code == status and message in text(response)
    assert session.scalar(select(func.count()).select_from(Thread)) == 0
    assert session.scalar(select(func.count()).select_from(Post)) == 0


def test_a_refused_first_post_leaves_no_topic_behind(client, session, people, boards):
    """The rate limit refuses the post after the thread row was written: both roll back."""
    member = people["free"]
    other = topic(session, boards["members"], people["editor"], "Busy")
    for number in range(service.RATE_LIMIT):
        service.create_post(session, member, other, f"post {number}")
    session.commit()
    sign_in(client, member)
    response = start(client, "members", title="One more", body="Hello")
    assert response.status_code == 429 and "posting very fast" in text(response)
    assert session.scalar(select(Thread).where(Thread.title == "One more")) is None
    with pytest.raises(service.PostRefused):
        forums.create_topic(session, member, boards["members"], "Direct", "Hello")
    session.flush()
    assert session.scalar(select(Thread).where(Thread.title == "Direct")) is None


def test_a_suspended_member_reads_but_starts_no_topic(client, session, people, boards):
    member = people["free"]
    member.posting_suspended_until = utcnow() + timedelta(days=1)
    session.commit()
    sign_in(client, member)
    assert client.get("/forum/members").status_code == 200
    form = client.get("/forum/members/new")
    assert form.status_code == 403 and "suspended your posting" in text(form)
    token = csrf_token(client, "/forum")
    refused = client.post(
        "/forum/members/new", data={"csrf_token": token, "title": "T", "body": "B"}
    )
    assert refused.status_code == 403
    assert session.scalar(select(func.count()).select_from(Thread)) == 0


def test_forms_without_a_csrf_token_are_refused(client, session, people, boards, canaries):
    sign_in(client, people["free"])
    no_token = client.post("/forum/members/new", data={"title": "T", "body": "B"})
    assert no_token.status_code == 400 and "form expired" in text(no_token)
    wrong = client.post("/forum/members/new", data={"csrf_token": "x", "title": "T", "body": "B"})
    assert wrong.status_code == 400
    assert client.post("/forum/members/mark-read").status_code == 400
    assert client.post("/forum/mark-read").status_code == 400
    mine = select(func.count()).where(ReadMarker.member_id == people["free"].id)
    assert session.scalar(mine) == 0
    assert session.scalar(select(func.count()).select_from(Thread)) == 3


@pytest.mark.parametrize(
    "path",
    [
        "/forum/nowhere",
        "/forum/nowhere/new",
        "/forum/search?q=bread&board=nowhere",
        "/forum/members?page=0",
        "/forum/members?page=-1",
        "/forum/members?page=abc",
        "/forum/members?page=1.5",
        "/forum/members?page=%EF%BC%91",  # a full-width digit one
        "/forum/members?page=99999999999999999999",
        "/forum/members?page=2",  # past the last page
        "/forum/search?q=canary&page=2",
        "/forum/search?q=canary&page=x",
    ],
)
def test_unknown_boards_and_bad_pages_are_404(client, people, canaries, path):
    sign_in(client, people["editor"])
    response = client.get(path)
    assert response.status_code == 404 and "Page not found" in text(response)


def test_unknown_board_when_signed_out_is_404_not_a_sign_in(client):
    assert client.get("/forum/nowhere/new").status_code == 404


# --- the topic list --------------------------------------------------------------------------


def test_topics_come_pinned_first_then_by_last_activity_in_pages(
    app, client, session, people, boards
):
    board, now = boards["public"], utcnow()
    for number in range(forums.TOPICS_PER_PAGE + 1):
        made = topic(session, board, people["paid"], f"Topic number {number:02d}")
        made.last_post_at = now - timedelta(hours=number)
    session.scalars(select(Thread).where(Thread.title == "Topic number 20")).one().pinned = True
    locked = session.scalars(select(Thread).where(Thread.title == "Topic number 00")).one()
    locked.locked = True
    session.commit()
    first = text(client.get("/forum/public"))
    assert first.index("Topic number 20") < first.index("Topic number 00")
    assert first.index("Topic number 00") < first.index("Topic number 01")
    assert "Pinned</span>" in first and "Locked</span>" in first
    assert "Topic number 30" not in first and "Page 1 of 2" in first
    second = text(client.get("/forum/public?page=2"))
    assert "Topic number 30" in second and "Topic number 29" not in second


def test_a_topic_list_page_is_two_queries_however_long(app, session, people, boards):
    """Starters, unread markers and counts come with the page: no query per topic."""
    board, member = boards["members"], people["free"]
    sizes = []
    for batch in (3, 25):
        for number in range(batch):
            author = make_member(session, name=f"Author {batch}-{number}")
            topic(session, board, author, f"Topic {batch}-{number}")
        session.expire_all()
        viewer, board = session.get(type(member), member.id), session.get(Board, board.id)
        with counted_statements(session) as statements:
            page = forums.topics_page(session, viewer, board, 1)
            names = [row.thread.author.name for row in page.items]
        assert len(names) == len(page.items) >= batch
        sizes.append(len(statements))
    assert sizes == [2, 2]


def test_hidden_topics_are_listed_for_editors_only(app, session, people, boards):
    hidden = topic(session, boards["members"], people["free"], "Quietly hidden")
    moderation.set_thread_flag(session, people["editor"], hidden, "hidden", True)
    session.commit()
    for viewer in ("free", "paid", "editor"):
        html = text(client_for(app, people, viewer).get("/forum/members"))
        assert ("Quietly hidden" in html) is (viewer == "editor")
        assert ("Hidden</span>" in html) is (viewer == "editor")
    assert "1 topic\n" not in text(client_for(app, people, "free").get("/forum"))
    assert "1 topic\n" in text(client_for(app, people, "editor").get("/forum"))


# --- unread markers --------------------------------------------------------------------------


def unread_markers(client, slug: str) -> int:
    return text(client.get(f"/forum/{slug}")).count("Unread</strong>")


def test_unread_markers_follow_reading_and_new_posts(app, client, session, people, boards):
    reader, writer, board = people["paid"], people["invite"], boards["members"]
    reader.created_at = utcnow() - timedelta(days=30)
    session.commit()
    first = forums.create_topic(session, writer, board, "First", "One")
    second = forums.create_topic(session, writer, board, "Second", "Two")
    session.commit()
    sign_in(client, reader)
    assert unread_markers(client, "members") == 2
    assert "2 unread" in text(client.get("/forum"))

    service.mark_read(session, reader, first)  # what viewing /t/<id> does
    session.commit()
    assert unread_markers(client, "members") == 1 and "1 unread" in text(client.get("/forum"))

    later = utcnow() + timedelta(seconds=5)
    service.create_post(session, writer, first, "A reply", now=later)
    session.commit()
    assert unread_markers(client, "members") == 2

    service.mark_read(session, reader, first, now=later + timedelta(seconds=1))
    service.mark_read(session, reader, second, now=later + timedelta(seconds=1))
    session.commit()
    assert unread_markers(client, "members") == 0 and "unread" not in text(client.get("/forum"))


def test_topics_older_than_a_member_are_not_news_to_them(client, session, people, boards):
    old = topic(session, boards["members"], people["editor"], "From before")
    old.last_post_at = utcnow() - timedelta(days=2)
    newcomer = make_member(session, email="new@example.com", created_at=utcnow())
    sign_in(client, newcomer)
    assert "From before" in text(client.get("/forum/members"))
    assert unread_markers(client, "members") == 0


def test_mark_all_read_on_a_board_and_everywhere(app, client, session, people, boards):
    reader, writer = people["paid"], people["editor"]
    reader.created_at = utcnow() - timedelta(days=30)
    for access in ("members", "paid"):
        for number in range(3):
            forums.create_topic(session, writer, boards[access], f"{access} {number}", "Hi")
    forums.create_topic(session, writer, boards["public"], "Open", "Hi")
    service.mark_read(
        session, reader, session.scalar(select(Thread).where(Thread.title == "paid 0"))
    )
    session.commit()
    sign_in(client, reader)
    assert unread_markers(client, "members") == 3 and unread_markers(client, "paid") == 2

    token = csrf_token(client, "/forum/members")
    done = client.post("/forum/members/mark-read", data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"] == "/forum/members"
    assert "Marked 3 topics read." in text(client.get("/forum/members"))
    assert unread_markers(client, "members") == 0 and unread_markers(client, "paid") == 2

    everywhere = client.post("/forum/mark-read", data={"csrf_token": token})
    assert everywhere.status_code == 303 and everywhere.headers["Location"] == "/forum"
    index = text(client.get("/forum"))
    assert "Marked 3 topics read." in index and "unread" not in index
    mine = select(func.count()).where(ReadMarker.member_id == reader.id)
    assert session.scalar(mine) == 7


def test_mark_read_needs_a_member_who_reads_the_board(app, session, people, boards, canaries):
    anonymous = app.test_client()
    token = csrf_token(anonymous, "/login")
    signed_out = anonymous.post("/forum/members/mark-read", data={"csrf_token": token})
    assert signed_out.status_code == 302 and "/login" in signed_out.headers["Location"]
    free = client_for(app, people, "free")
    token = csrf_token(free, "/forum")
    assert free.post("/forum/paid/mark-read", data={"csrf_token": token}).status_code == 403
    assert free.post("/forum/nowhere/mark-read", data={"csrf_token": token}).status_code == 404
    assert free.post("/forum/mark-read", data={"csrf_token": token}).status_code == 303
    marked = session.scalars(
        select(ReadMarker.thread_id).where(ReadMarker.member_id == people["free"].id)
    ).all()
    assert canaries["paid"].id not in marked and canaries["members"].id in marked


# --- search ----------------------------------------------------------------------------------


def search(client, query: str, **params) -> tuple[int, str]:
    response = client.get("/forum/search", query_string={"q": query, **params})
    return response.status_code, unmarked(response)


def test_search_takes_percent_and_underscore_literally(client, session, people, boards):
    writer = people["editor"]
    for body in ("Hydration at 100% today", "Hydration at 1000 grams", "Use a_b flour",
                 "Use axb flour", "Path C:\\bread\\rye"):  # fmt: skip
        forums.create_topic(session, writer, boards["public"], f"On {body[:12]}", body)
    session.commit()
    status, html = search(client, "100%")
    assert status == 200 and "100% today" in html and "1000 grams" not in html
    assert "1 result" in html
    _, html = search(client, "a_b")
    assert "a_b flour" in html and "axb flour" not in html
    _, html = search(client, "0%")
    assert "100% today" in html and "1000 grams" not in html
    _, html = search(client, "C:\\bread")
    assert "1 result" in html
    _, html = search(client, "HYDRATION")
    assert "2 results" in html


def test_search_never_finds_hidden_deleted_or_private_posts(client, session, people, boards):
    editor, member = people["editor"], people["free"]
    board = boards["members"]
    visible = forums.create_topic(session, member, board, "Open topic", "needle visible")
    hidden_post = service.create_post(session, member, visible, "needle hidden post")
    deleted = service.create_post(session, member, visible, "needle deleted post")
    service.create_post(session, editor, visible, "needle private note", private=True)
    moderation.set_post_status(session, editor, hidden_post, "hidden")
    moderation.set_post_status(session, editor, deleted, "deleted")
    hidden_topic = forums.create_topic(session, member, board, "Hidden topic", "needle in hiding")
    moderation.set_thread_flag(session, editor, hidden_topic, "hidden", True)
    session.commit()
    for viewer in (member, editor):
        sign_in(client, viewer)
        status, html = search(client, "needle")
        assert status == 200 and "needle visible" in html and "1 result" in html
        for absent in ("hidden post", "deleted post", "private note", "in hiding"):
            assert absent not in html


def test_a_title_match_links_to_the_topic_s_first_post(client, session, people, boards):
    made = forums.create_topic(
        session, people["paid"], boards["public"], "Baking with buckwheat", "Start here."
    )
    service.create_post(session, people["free"], made, "A reply without the word.")
    session.commit()
    first = session.scalars(select(Post).where(Post.thread_id == made.id).order_by(Post.id)).first()
    status, html = search(client, "buckwheat")
    assert status == 200 and "1 result" in html
    assert f'href="/t/{made.id}#post-{first.id}"' in html and "Public board" in html
    marked = text(client.get("/forum/search?q=buckwheat"))
    assert "Baking with <mark>buckwheat</mark>" in marked and "Start here." in marked


def test_every_word_must_match_and_matches_are_marked(client, session, people, boards):
    board = boards["public"]
    forums.create_topic(session, people["paid"], board, "Crumb", "An open crumb needs <b>steam</b>")
    forums.create_topic(session, people["paid"], board, "Crust", "A dark crust needs heat")
    session.commit()
    response = client.get("/forum/search?q=needs+STEAM")
    html = text(response)
    assert "1 result" in html and "<mark>steam</mark>" in html and "<mark>needs</mark>" in html
    assert "&lt;b&gt;" in html and "<b>steam" not in html  # written text is escaped


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("", 200, None),
        ("   ", 200, None),
        ("a", 400, "at least 2 characters"),
        ("x" * 101, 400, "at most 100 characters"),
    ],
)
def test_empty_short_and_long_searches(client, canaries, query, status, message):
    response = client.get("/forum/search", query_string={"q": query})
    assert response.status_code == status
    assert "result" not in text(response)
    if message:
        assert message in text(response)


def test_search_results_are_paginated_and_capped(client, session, people, boards):
    made = topic(session, boards["public"], people["editor"], "Many")
    now = utcnow()
    for number in range(forums.RESULTS_PER_PAGE + 5):
        service.create_post(session, people["editor"], made, f"loaf {number}", now=now)
    session.commit()
    status, first = search(client, "loaf")
    assert status == 200 and "25 results · page 1 of 2" in first
    status, second = search(client, "loaf", page="2")
    assert status == 200 and second.count("#post-") == 5
    words = forums.search_words(" ".join(f"w{n}" for n in range(20)))
    assert len(words) == forums.MAX_WORDS


# --- the demo ---------------------------------------------------------------------------------


def test_the_demo_seeds_two_boards_with_welcome_topics_once(app, session):
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["demo"])
        assert result.exit_code == 0, result.output
    assert "forum demo: already there" in result.output
    boards = session.scalars(select(Board).order_by(Board.position)).all()
    assert [(board.slug, board.name, board.access) for board in boards] == [
        ("general", "General", "members"),
        ("paid-members", "Paid members", "paid"),
    ]
    titles = session.scalars(select(Thread.title).order_by(Thread.id)).all()
    assert titles == ["Welcome to the forum", "Welcome, paid members"]
    assert session.scalar(select(func.count()).select_from(Post)) == 2


def test_boards_create_command(app, session):
    runner = app.test_cli_runner()
    made = runner.invoke(
        args=["boards", "create", "bakers", "--name", "Bakers", "--access", "paid"]
    )
    assert made.exit_code == 0 and "/forum/bakers" in made.output
    again = runner.invoke(args=["boards", "create", "bakers", "--name", "Again"])
    assert again.exit_code == 1 and "already has the slug" in again.output
    bad = runner.invoke(args=["boards", "create", "Bad Slug!", "--name", "X"])
    assert bad.exit_code == 1 and "lower-case letters" in bad.output
    assert session.scalars(select(Board.slug)).all() == ["bakers"]
