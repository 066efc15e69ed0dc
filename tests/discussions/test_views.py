"""Threads on the web, for every kind of viewer on a public, a members and a paid issue: who
sees which posts (on the thread page and under the issue), who may do what, and that a refused
request writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.db import utcnow
from app.discussions import moderation, service
from app.discussions.models import Board, Post, ReadMarker
from app.discussions.service import MAX_BODY
from app.issues import service as issues
from app.members import audience
from tests.conftest import counted_statements, make_member, sign_in
from tests.discussions.conftest import topic
from tests.discussions.web import (
    PRIVATE_READERS,
    READERS,
    SIGNED_IN,
    VIEWERS,
    VISIBILITIES,
    as_viewer,
    build_place,
    form_token,
    snapshot,
    text,
)

MATRIX = [(who, visibility) for who in VIEWERS for visibility in VISIBILITIES]


@pytest.fixture
def places(session, people):
    return {visibility: build_place(session, people, visibility) for visibility in VISIBILITIES}


# --- reading ------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "visibility"), MATRIX)
def test_thread_page_shows_posts_only_to_readers(client, people, places, who, visibility):
    place = places[visibility]
    response = as_viewer(client, people, who).get(f"/t/{place.thread.id}")
    html = text(response)
    assert response.status_code == 200
    assert place.issue.title in html
    assert (place.words in html) == (who in READERS[visibility])
    assert (place.secret in html) == (who in PRIVATE_READERS)
    if who not in READERS[visibility]:  # the prompt, and nothing of the thread
        prompt = "paid and invited members" if who in SIGNED_IN else "Sign in"
        assert prompt in html and "Paid Reader" not in html and 'class="posts"' not in html


@pytest.mark.parametrize(("who", "visibility"), MATRIX)
def test_issue_page_discussion_section(client, people, places, who, visibility):
    place = places[visibility]
    html = text(as_viewer(client, people, who).get(f"/issues/{place.issue.slug}"))
    section = html.split('<section class="discussion"')[1].split("</main>")[0]
    assert "Discussion</h2>" in section and "1 reply." in section  # the public count
    signed_in, reads = who in SIGNED_IN, who in READERS[visibility]
    assert (place.words in html) == (signed_in and reads)
    assert (place.secret in html) == (who in PRIVATE_READERS)
    posting_form = f'action="/t/{place.thread.id}/posts"'
    assert (posting_form in html) == (signed_in and reads)
    if not signed_in:  # the cached page: links only, no names, no form tokens
        assert ("Read the discussion" in section) == (visibility == "public")
        assert "Sign in to" in section and "csrf_token" not in html
        assert "Paid Reader" not in html
    elif not reads:
        assert "/account#membership" in section and "paid and invited members" in section


def test_anonymous_issue_page_is_cached_with_the_count(app, client, session, places, people):
    place = places["public"]
    first = client.get(f"/issues/{place.issue.slug}")
    assert "Set-Cookie" not in first.headers and "1 reply." in text(first)
    cache = app.extensions["kith.page_cache"]
    assert f"/issues/{place.issue.slug}?" in cache.pages


def test_a_signed_in_reader_has_read_the_thread(client, session, people, places):
    place = places["members"]
    client.get(f"/t/{place.thread.id}")
    assert session.scalar(select(func.count()).select_from(ReadMarker)) == 0
    sign_in(client, people["free"])
    client.get(f"/t/{place.thread.id}")
    marker = session.get(ReadMarker, (people["free"].id, place.thread.id))
    assert marker is not None and marker.read_at >= place.post.created_at


def test_a_signed_in_thread_page_costs_the_same_few_statements_however_long(
    app, client, session, people, boards
):
    """The member is read once per request, and no author's tags come with their posts: the
    page that signed-in readers open most stays a handful of statements."""
    app.extensions["kith.page_cache"].ttl = 60  # its version check: once a second, not per page
    thread = topic(session, boards["members"], people["editor"], "A long topic")
    counts = []
    for batch in (2, 30):
        for number in range(batch):
            author = make_member(session, name=f"Author {batch}-{number}")
            audience.set_tags(session, [author.id], ["regular", f"t{number}"], add=True)
            service.create_post(session, author, thread, f"Words {batch}-{number}.")
        session.commit()
        reader = as_viewer(client, people, "free")
        reader.get(f"/t/{thread.id}")  # the first visit writes the read marker
        with counted_statements(session) as statements:
            assert reader.get(f"/t/{thread.id}").status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 5, counts


@pytest.mark.parametrize("path", ["/t/999999", "/t/99999999999999999999", "/t/0"])
def test_unknown_threads_are_404(client, path):
    assert client.get(path).status_code == 404


def test_a_draft_issue_thread_exists_for_editors_only(client, session, people):
    draft = issues.save_issue(session, {"title": "Unfinished", "visibility": "public"})
    thread = service.issue_thread(session, draft)
    session.commit()
    sign_in(client, people["paid"])
    assert client.get(f"/t/{thread.id}").status_code == 404
    sign_in(client, people["editor"])
    assert client.get(f"/t/{thread.id}").status_code == 200


# --- who may do what, on every route ------------------------------------------------------

ROUTES = {
    "post": ("/t/{thread}/posts", {"body": "A new thought."}),
    "edit_page": ("/posts/{post}/edit", None),
    "edit": ("/posts/{post}/edit", {"body": "Changed words."}),
    "delete": ("/posts/{post}/delete", {}),
    "react": ("/posts/{post}/reactions", {"kind": "like"}),
    "report": ("/posts/{post}/report", {"reason": "Off topic"}),
    "moderate_post": ("/posts/{post}/moderate", {"action": "hide", "reason": "Rude"}),
    "moderate_thread": ("/t/{thread}/moderate", {"action": "lock"}),
}


def expected_status(route: str, who: str, visibility: str) -> int:
    """The policy, as a table a reader can check: the post is ``paid``'s."""
    reads, signed_in = who in READERS[visibility], who in SIGNED_IN
    if route.startswith("moderate"):
        return 303 if who == "editor" else 403
    if route == "post":
        return 303 if reads and signed_in else 403
    if not reads:
        return 404  # a thread they cannot read has no posts for them
    if not signed_in:
        return 403
    if route in ("edit_page", "edit"):
        return (200 if route == "edit_page" else 303) if who in ("paid", "editor") else 403
    if route == "delete":
        return 303 if who == "paid" else 403  # editors remove others' posts by moderating
    return 303


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("who", "visibility"), MATRIX)
def test_every_route_for_every_viewer(client, session, people, places, route, who, visibility):
    place = places[visibility]
    path_template, data = ROUTES[route]
    path = path_template.format(thread=place.thread.id, post=place.post.id)
    as_viewer(client, people, who)
    before = snapshot(session)
    if data is None:
        response = client.get(path)
    else:
        response = client.post(path, data=data | {"csrf_token": form_token(client, who)})
    assert response.status_code == expected_status(route, who, visibility), text(response)[:500]
    changed = snapshot(session) != before
    assert changed == (response.status_code == 303), "a refused request wrote something"


# --- refusals, with reasons ---------------------------------------------------------------


def post(client, thread, who="paid", **data):
    values = {"body": "Words", "csrf_token": form_token(client, who)} | data
    return client.post(f"/t/{thread.id}/posts", data=values)


def test_member_b_cannot_touch_member_a_post(client, session, people, places):
    place = places["members"]
    sign_in(client, people["free"])
    before = snapshot(session)
    token = form_token(client, "free")
    post_id = place.post.id
    assert client.get(f"/posts/{post_id}/edit").status_code == 403
    edit = client.post(f"/posts/{post_id}/edit", data={"body": "Mine now", "csrf_token": token})
    assert edit.status_code == 403 and "only your own posts" in text(edit)
    assert client.post(f"/posts/{post_id}/delete", data={"csrf_token": token}).status_code == 403
    hide = {"action": "delete", "csrf_token": token}
    assert client.post(f"/posts/{post_id}/moderate", data=hide).status_code == 403
    lock = {"action": "lock", "csrf_token": token}
    assert client.post(f"/t/{place.thread.id}/moderate", data=lock).status_code == 403
    assert snapshot(session) == before


@pytest.mark.parametrize("action", ["reactions", "report", "edit", "delete"])
def test_a_private_post_does_not_exist_for_others(client, session, people, places, action):
    place = places["public"]
    sign_in(client, people["invite"])
    data = {"kind": "like", "body": "x", "csrf_token": form_token(client, "invite")}
    before = snapshot(session)
    response = client.post(f"/posts/{place.private.id}/{action}", data=data)
    assert response.status_code == 404 and snapshot(session) == before


def test_a_parent_from_another_thread_is_refused(client, session, people, places):
    sign_in(client, people["paid"])
    before = snapshot(session)
    other = places["members"].post
    response = post(client, places["public"].thread, parent_id=str(other.id), body="Cross-post")
    assert response.status_code == 400 and "not in this thread" in text(response)
    assert "Cross-post" in text(response)  # the words are kept
    junk = post(client, places["public"].thread, parent_id="x1", body="Junk parent")
    assert junk.status_code == 400 and snapshot(session) == before


@pytest.mark.parametrize("status", ["private", "hidden"])
def test_no_reply_goes_under_a_post_others_cannot_see(client, session, people, places, status):
    place = places["public"]
    if status == "hidden":
        moderation.set_post_status(session, people["editor"], place.post, "hidden")
        session.commit()
    parent = place.private if status == "private" else place.post
    before = snapshot(session)
    for who in ("invite", "paid"):  # someone else, and the author who sees it
        sign_in(client, people[who])
        response = post(client, place.thread, who, parent_id=str(parent.id), body="Under it")
        assert response.status_code == 400 and "not in this thread" in text(response)
    assert snapshot(session) == before


@pytest.mark.parametrize(
    "path",
    [
        "/t/{thread}/posts",
        "/posts/{post}/edit",
        "/posts/{post}/delete",
        "/posts/{post}/reactions",
        "/posts/{post}/report",
        "/posts/{post}/moderate",
        "/t/{thread}/moderate",
    ],
)
def test_forms_without_csrf_are_refused(client, session, people, places, path):
    place = places["public"]
    sign_in(client, people["editor"])
    before = snapshot(session)
    data = {"body": "No token", "kind": "like", "action": "lock"}
    response = client.post(path.format(thread=place.thread.id, post=place.post.id), data=data)
    assert response.status_code == 400 and "did not come from this site" in text(response)
    assert snapshot(session) == before


def test_an_oversized_post_is_refused_with_the_reason(client, session, people, places):
    sign_in(client, people["paid"])
    before = snapshot(session)
    response = post(client, places["public"].thread, body="a" * (MAX_BODY + 1))
    assert response.status_code == 400
    assert f"at most {MAX_BODY:,} characters" in text(response)
    assert snapshot(session) == before


def test_an_empty_post_is_refused(client, session, people, places):
    sign_in(client, people["paid"])
    response = post(client, places["public"].thread, body="   \r\n ")
    assert response.status_code == 400 and "Write something first." in text(response)


def test_a_refused_reply_keeps_its_words_under_its_post(client, session, people, places):
    place = places["public"]
    sign_in(client, people["free"])
    response = post(client, place.thread, "free", parent_id=str(place.post.id), body=" ")
    html = text(response)
    assert response.status_code == 400
    assert '<details class="reply" open>' in html
    assert f'id="body-{place.post.id}-error" role="alert">Write something first.' in html


def test_discussion_off_shows_no_section_and_takes_nothing(client, session, people):
    place = build_place(session, people, "public")  # replies came in, then it was turned off
    issues.save_issue(session, {"discussion": "off"}, issue_id=place.issue.id)
    session.commit()
    for who in ("anonymous", "free", "editor"):
        html = text(as_viewer(client, people, who).get(f"/issues/{place.issue.slug}"))
        assert 'class="discussion"' not in html and place.words not in html
    sign_in(client, people["paid"])
    before = snapshot(session)
    assert client.get(f"/t/{place.thread.id}").status_code == 404
    assert post(client, place.thread).status_code == 404
    assert snapshot(session) == before


def paid_discussion(session, people, places):
    return build_place(session, people, "members", title="Rye talk", discussion="paid")


def locked_thread(session, people, places):
    moderation.set_thread_flag(session, people["editor"], places["public"].thread, "locked", True)
    session.commit()
    return places["public"]


@pytest.mark.parametrize(
    ("setup", "page_says", "refusal", "allowed"),
    [
        (paid_discussion, "you can read along", "for paid members", "invite"),
        (locked_thread, "This thread is locked: it takes no new replies", "is locked.", "editor"),
    ],
)
def test_readers_who_may_not_post_are_told_why(
    client, session, people, places, setup, page_says, refusal, allowed
):
    place = setup(session, people, places)
    sign_in(client, people["free"])
    html = text(client.get(f"/issues/{place.issue.slug}"))
    assert place.words in html and page_says in html
    assert f'action="/t/{place.thread.id}/posts"' not in html
    refused = post(client, place.thread, "free")
    assert refused.status_code == 403 and refusal in text(refused)
    sign_in(client, people[allowed])
    assert post(client, place.thread, allowed).status_code == 303


def test_a_suspended_member_reads_but_does_not_post(client, session, people, places):
    place = places["public"]
    member = people["free"]
    moderation.suspend(session, people["editor"], member, utcnow() + timedelta(days=2))
    session.commit()
    sign_in(client, member)
    html = text(client.get(f"/t/{place.thread.id}"))
    assert place.words in html and "A moderator paused your posting until" in html
    before = snapshot(session)
    refused = post(client, place.thread, "free", body="Still here")
    assert refused.status_code == 403 and "suspended your posting" in text(refused)
    assert "Still here" in text(refused) and snapshot(session) == before


def test_the_database_rate_limit_answers_429(client, session, people, places):
    place = places["public"]
    member = make_member(session, name="Quick")
    for number in range(service.RATE_LIMIT):
        service.create_post(session, member, place.thread, f"Post {number}")
    session.commit()
    sign_in(client, member)
    response = post(client, place.thread, "free", body="One more")
    assert response.status_code == 429 and "posting very fast" in text(response)
    assert "One more" in text(response)


def test_the_web_edge_limits_posting_too(client, session, people, places):
    sign_in(client, people["editor"])  # editors have no limit in the database
    statuses = [post(client, places["public"].thread, "editor").status_code for _ in range(21)]
    assert statuses[:20] == [303] * 20 and statuses[20] == 429


# --- posting and replying -------------------------------------------------------------------


def test_reply_and_reply_to_a_reply_nest_under_the_conversation(client, session, people, places):
    place = places["members"]
    sign_in(client, people["free"])
    first = post(client, place.thread, "free", parent_id=str(place.post.id), body="A *reply*")
    reply = session.scalars(select(Post).order_by(Post.id.desc())).first()
    assert first.status_code == 303
    assert first.headers["Location"] == f"/t/{place.thread.id}#post-{reply.id}"
    again = post(
        client, place.thread, "free", parent_id=str(reply.id), body="Deeper", return_to="issue"
    )
    deeper = session.scalars(select(Post).order_by(Post.id.desc())).first()
    assert again.headers["Location"] == f"/issues/{place.issue.slug}#post-{deeper.id}"
    assert reply.parent_id == place.post.id and deeper.parent_id == place.post.id
    html = text(client.get(f"/t/{place.thread.id}"))
    replies = html.split('<ol class="replies"')[1]
    assert "A <em>reply</em>" in replies and "Deeper" in replies
    assert html.index(place.words) < html.index("A <em>reply</em>") < html.index("Deeper")


def test_posts_show_author_time_and_editor_label(client, session, people, places):
    place = places["public"]
    service.create_post(session, people["editor"], place.thread, "From the desk")
    service.create_post(session, make_member(session), place.thread, "Nameless words")
    session.commit()
    html = text(client.get(f"/t/{place.thread.id}"))
    assert "Paid Reader" in html and "A member" in html
    assert 'Ed</strong> <span class="badge">Editor</span>' in html
    assert f'<time datetime="{place.post.created_at.isoformat(timespec="seconds")}">' in html


def test_a_topic_links_to_its_board_and_a_gated_one_keeps_its_title(client, session, people):
    board = Board(slug="bakers", name="Bakers", access="paid")
    session.add(board)
    session.commit()
    thread = topic(session, board, people["paid"], title="Secret rye ratios")
    service.create_post(session, people["paid"], thread, "Rye at 30 percent.")
    session.commit()
    sign_in(client, people["free"])
    gated = text(client.get(f"/t/{thread.id}"))
    assert "Secret rye ratios" not in gated and "Rye at 30" not in gated
    sign_in(client, people["invite"])
    html = text(client.get(f"/t/{thread.id}"))
    assert 'href="/forum/bakers"' in html and "Secret rye ratios" in html and "Rye at 30" in html


def test_a_hidden_thread_is_404_for_members(client, session, people, places):
    place = places["public"]
    moderation.set_thread_flag(session, people["editor"], place.thread, "hidden", True)
    session.commit()
    sign_in(client, people["paid"])
    assert client.get(f"/t/{place.thread.id}").status_code == 404
    assert 'class="discussion"' not in text(client.get(f"/issues/{place.issue.slug}"))
    assert post(client, place.thread).status_code == 404
