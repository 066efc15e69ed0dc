"""``/admin/moderation``: the queue, hidden posts, suspended members, the audit log, the member
page's Posting section and the member's own account line, as editors and others use them."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.admin import moderation_views
from app.discussions import moderation, service
from app.discussions.models import ModerationAction, PostReport
from app.discussions.service import PostRefused
from tests.conftest import csrf_token, make_member, sign_in
from tests.discussions.conftest import publish_issue

QUEUE = "/admin/moderation"


@pytest.fixture
def thread(session):
    issue = publish_issue(session, title="Sourdough", visibility="members")
    found = service.issue_thread(session, issue)
    session.commit()
    return found


@pytest.fixture
def people(session, editor):
    return {
        "editor": editor,
        "author": make_member(session, email="author@example.com", name="Ann Author"),
        "paid": make_member(session, email="paid@example.com", tier="paid"),
        "free": make_member(session, email="free@example.com"),
    }


@pytest.fixture
def reported(session, thread, people):
    """A post reported twice and one reported once, newer."""
    twice = service.create_post(session, people["author"], thread, "Buy **cheap** flour!")
    once = service.create_post(session, people["author"], thread, "Rye is better")
    moderation.report_post(session, people["paid"], twice, "spam")
    moderation.report_post(session, people["free"], twice, "advertising")
    moderation.report_post(session, people["paid"], once, "rude")
    session.commit()
    return twice, once


@pytest.fixture
def editor_client(client, editor):
    sign_in(client, editor)
    return client


def post_form(client, path: str, *, token: str | None = None, **data):
    data["csrf_token"] = token if token is not None else csrf_token(client, QUEUE)
    return client.post(path, data=data)


def actions(session) -> list[tuple[str, str, int, str]]:
    rows = session.scalars(select(ModerationAction).order_by(ModerationAction.id))
    return [(row.action, row.target_type, row.target_id, row.reason) for row in rows]


def routes(post_id: int, member_id: int) -> list[tuple[str, str]]:
    return [
        ("GET", QUEUE),
        ("GET", f"{QUEUE}/hidden"),
        ("GET", f"{QUEUE}/suspended"),
        ("GET", f"{QUEUE}/log"),
        ("GET", f"{QUEUE}/posts/{post_id}/delete"),
        ("POST", f"{QUEUE}/posts/{post_id}"),
        ("POST", f"{QUEUE}/members/{member_id}/suspend"),
        ("POST", f"{QUEUE}/members/{member_id}/lift"),
    ]


def test_no_one_but_editors_reaches_any_route(client, session, reported, people):
    post, member = reported[0], people["author"]
    form = {"action": "hide", "duration": "7d"}
    for method, path in routes(post.id, member.id):
        token = csrf_token(client, "/login")
        response = client.open(path, method=method, data=form | {"csrf_token": token})
        assert response.status_code == 302 and "/login" in response.location, path
    sign_in(client, people["paid"])
    for method, path in routes(post.id, member.id):
        token = csrf_token(client, "/account")
        response = client.open(path, method=method, data=form | {"csrf_token": token})
        assert response.status_code == 403, path
    session.expire_all()
    assert post.status == "visible" and member.posting_suspended_until is None
    assert actions(session) == []


def test_queue_shows_reported_posts_most_reported_first(editor_client, reported, people):
    twice, once = reported
    html = editor_client.get(QUEUE).get_data(as_text=True)
    assert html.index(f"Post #{twice.id}") < html.index(f"Post #{once.id}")
    assert "Buy <strong>cheap</strong> flour!" in html  # the sanitized HTML, rendered
    assert f'href="/t/{twice.thread_id}#post-{twice.id}"' in html
    assert f'href="/admin/members/{people["author"].id}">Ann Author</a>' in html
    assert "2 open reports" in html and "1 open report<" in html
    assert "spam" in html and "advertising" in html and "rude" in html
    assert "Reported posts (2)" in html


def test_queue_shows_post_html_as_stored_and_never_raw_markup(
    editor_client, session, thread, people
):
    post = service.create_post(session, people["author"], thread, "<script>alert(1)</script>")
    moderation.report_post(session, people["paid"], post, "<b>bold</b> reason")
    session.commit()
    html = editor_client.get(QUEUE).get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt; reason" in html


def test_hide_leaves_the_queue_for_hidden_posts_and_unhide_brings_it_back(
    editor_client, session, reported
):
    twice, once = reported
    response = post_form(
        editor_client, f"{QUEUE}/posts/{twice.id}", action="hide", reason="spam", next=QUEUE
    )
    assert response.status_code == 303 and response.location.endswith(QUEUE)
    session.expire_all()
    assert twice.status == "hidden"
    assert actions(session) == [("hide", "post", twice.id, "spam")]
    html = editor_client.get(QUEUE).get_data(as_text=True)
    assert f"Post #{twice.id}" not in html and f"Post #{once.id}" in html
    assert "Post hidden" in html
    hidden = editor_client.get(f"{QUEUE}/hidden").get_data(as_text=True)
    assert f"Post #{twice.id}" in hidden and "Buy <strong>cheap</strong>" in hidden

    post_form(editor_client, f"{QUEUE}/posts/{twice.id}", action="unhide")
    session.expire_all()
    assert twice.status == "visible" and actions(session)[-1][:3] == ("unhide", "post", twice.id)
    assert f"Post #{twice.id}" not in editor_client.get(f"{QUEUE}/hidden").get_data(as_text=True)


def test_delete_asks_first_then_wipes_the_words(editor_client, session, reported):
    twice = reported[0]
    confirm = editor_client.get(f"{QUEUE}/posts/{twice.id}/delete?next=/admin/moderation")
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and f"Delete post #{twice.id} for good" in page
    session.expire_all()
    assert twice.status == "visible"  # looking changes nothing
    response = post_form(editor_client, f"{QUEUE}/posts/{twice.id}", action="delete", reason="scam")
    assert response.status_code == 303
    session.expire_all()
    assert (twice.status, twice.body_html) == ("deleted", "")
    assert actions(session) == [("delete", "post", twice.id, "scam")]
    again = editor_client.get(f"{QUEUE}/posts/{twice.id}/delete")
    assert again.status_code == 400 and "That post is deleted" in again.get_data(as_text=True)


def test_dismiss_keeps_the_post_and_empties_its_reports(editor_client, session, reported):
    twice = reported[0]
    post_form(editor_client, f"{QUEUE}/posts/{twice.id}", action="dismiss", reason="fine")
    session.expire_all()
    assert twice.status == "visible"
    open_reports = select(func.count()).where(
        PostReport.post_id == twice.id, PostReport.resolved_at.is_(None)
    )
    assert session.scalar(open_reports) == 0
    assert actions(session) == [("dismiss-reports", "post", twice.id, "fine")]


def test_suspending_stops_posting_shows_on_the_account_and_lifting_undoes_it(
    app, editor_client, session, thread, reported, people
):
    author = people["author"]
    response = post_form(
        editor_client, f"{QUEUE}/members/{author.id}/suspend", duration="7d", reason="spam run"
    )
    assert response.status_code == 303
    session.expire_all()
    assert moderation.suspension(author) is not None
    assert actions(session) == [("suspend", "member", author.id, "spam run")]
    with pytest.raises(PostRefused) as refused:
        service.create_post(session, author, thread, "Still here")
    assert refused.value.reason == "suspended"
    assert "author@example.com" in editor_client.get(f"{QUEUE}/suspended").get_data(as_text=True)

    member_client = app.test_client()
    sign_in(member_client, author)
    account = member_client.get("/account").get_data(as_text=True)
    until = author.posting_suspended_until.strftime("%-d %b %Y %H:%M UTC")
    assert f"You can't post until {until}." in account

    post_form(editor_client, f"{QUEUE}/members/{author.id}/lift", reason="served")
    session.expire_all()
    assert author.posting_suspended_until is None
    assert actions(session)[-1] == ("unsuspend", "member", author.id, "served")
    assert "You can't post" not in member_client.get("/account").get_data(as_text=True)
    assert service.create_post(session, author, thread, "Back").status == "visible"


def test_until_lifted_reads_so_on_the_account(app, editor_client, session, people):
    author = people["author"]
    post_form(editor_client, f"{QUEUE}/members/{author.id}/suspend", duration="lifted")
    member_client = app.test_client()
    sign_in(member_client, author)
    account = member_client.get("/account").get_data(as_text=True)
    assert "You can't post until a moderator lifts the suspension." in account


@pytest.mark.parametrize(
    ("path", "data", "message"),
    [
        ("/members/{author}/suspend", {"duration": "2y"}, "1 day, 7 days, 30 days, until lifted"),
        ("/members/{author}/suspend", {}, "Choose how long the suspension lasts"),
        ("/members/{editor}/suspend", {"duration": "7d"}, "Editors cannot be suspended"),
        ("/members/{author}/lift", {}, "That member is not suspended"),
        ("/members/{author}/suspend", {"duration": "1d", "reason": "x" * 2001}, "at most 2,000"),
        ("/posts/{post}", {"action": "burn"}, "Choose Hide, Unhide, Delete or Dismiss"),
        ("/posts/{post}", {"action": "unhide"}, "That post is already visible"),
    ],
)
def test_bad_input_is_a_400_that_says_why_and_changes_nothing(
    editor_client, session, reported, people, path, data, message
):
    ids = {"author": people["author"].id, "editor": people["editor"].id, "post": reported[0].id}
    response = post_form(editor_client, QUEUE + path.format(**ids), **data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    session.expire_all()
    assert people["author"].posting_suspended_until is None and reported[0].status == "visible"
    assert actions(session) == []


def test_a_form_without_its_csrf_token_is_refused(editor_client, session, reported, people):
    for path, data in [
        (f"{QUEUE}/posts/{reported[0].id}", {"action": "hide"}),
        (f"{QUEUE}/members/{people['author'].id}/suspend", {"duration": "7d"}),
    ]:
        assert editor_client.post(path, data=data).status_code == 400
        assert post_form(editor_client, path, token="forged", **data).status_code == 400
    session.expire_all()
    assert reported[0].status == "visible" and actions(session) == []


def test_unknown_ids_are_404(editor_client):
    for path, data in [
        (f"{QUEUE}/posts/999999", {"action": "hide"}),
        (f"{QUEUE}/members/999999/suspend", {"duration": "7d"}),
        (f"{QUEUE}/members/999999/lift", {}),
    ]:
        assert post_form(editor_client, path, **data).status_code == 404
    assert editor_client.get(f"{QUEUE}/posts/999999/delete").status_code == 404
    assert editor_client.get(f"{QUEUE}/posts/abc/delete").status_code == 404


def test_after_an_action_only_admin_paths_are_followed(editor_client, reported):
    for target in ("https://evil.example/", "//evil.example/", "/account"):
        response = post_form(
            editor_client, f"{QUEUE}/posts/{reported[1].id}", action="dismiss", next=target
        )
        assert response.location.endswith(QUEUE), target


@pytest.mark.parametrize("number", ["0", "-1", "abc", "1.5", "9999999", "²"])
def test_a_bad_page_number_is_a_400(editor_client, number):
    for tab in ("", "/hidden", "/suspended", "/log"):
        response = editor_client.get(f"{QUEUE}{tab}?page={number}")
        assert response.status_code == 400
        assert "A page number is a whole number from 1" in response.get_data(as_text=True)


def test_pages_link_to_each_other_and_past_the_end_is_the_last(
    editor_client, session, thread, people, monkeypatch
):
    monkeypatch.setitem(moderation_views.PER_PAGE, "reported", 2)
    for n in range(5):
        post = service.create_post(session, people["editor"], thread, f"Message {n}")
        moderation.report_post(session, people["paid"], post, f"reason {n}")
    session.commit()
    first = editor_client.get(QUEUE).get_data(as_text=True)
    assert "Page 1 of 3" in first and 'href="/admin/moderation?page=2"' in first
    assert 'rel="prev"' not in first
    last = editor_client.get(f"{QUEUE}?page=3").get_data(as_text=True)
    assert "Page 3 of 3" in last and 'rel="next"' not in last
    assert len(re.findall(r'<li aria-labelledby="post-', last)) == 1
    past = editor_client.get(f"{QUEUE}?page=40")
    assert past.status_code == 200 and "Page 3 of 3" in past.get_data(as_text=True)


def test_log_lists_newest_first_with_links_and_filters(
    editor_client, session, thread, reported, people
):
    twice, once = reported
    second = make_member(session, email="second@example.com", name="Sam", role="editor")
    moderation.set_post_status(session, people["editor"], twice, "hidden", "spam")
    moderation.set_thread_flag(session, second, thread, "locked", True, "heated")
    moderation.suspend(session, second, people["author"], moderation.suspension_end("1d"))
    session.commit()

    html = editor_client.get(f"{QUEUE}/log").get_data(as_text=True)
    assert (
        html.index("<td>suspend</td>")
        < html.index("<td>lock-thread</td>")
        < html.index("<td>hide</td>")
    )
    assert f'href="/t/{thread.id}#post-{twice.id}">post #{twice.id}</a>' in html
    assert f'href="/t/{thread.id}">thread #{thread.id}</a>' in html
    assert f'href="/admin/members/{people["author"].id}">Ann Author</a>' in html
    assert "heated" in html and "3 actions" in html

    only_hides = editor_client.get(f"{QUEUE}/log?action=hide").get_data(as_text=True)
    assert "<td>hide</td>" in only_hides and "<td>suspend</td>" not in only_hides
    by_sam = editor_client.get(f"{QUEUE}/log?moderator={second.id}").get_data(as_text=True)
    assert "2 actions" in by_sam and "<td>hide</td>" not in by_sam
    assert f'<option value="{second.id}" selected>Sam</option>' in by_sam

    for query, message in [("action=explode", "Unknown action"), ("moderator=x", "moderator")]:
        response = editor_client.get(f"{QUEUE}/log?{query}")
        assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_log_pager_keeps_the_filters(editor_client, session, thread, people, monkeypatch):
    monkeypatch.setitem(moderation_views.PER_PAGE, "log", 1)
    for flag in ("locked", "pinned"):
        moderation.set_thread_flag(session, people["editor"], thread, flag, True)
    session.commit()
    html = editor_client.get(f"{QUEUE}/log?moderator={people['editor'].id}").get_data(as_text=True)
    assert f'href="/admin/moderation/log?page=2&amp;moderator={people["editor"].id}"' in html


def test_member_page_has_a_posting_section_with_suspend_and_lift(
    editor_client, session, reported, people
):
    author = people["author"]
    page = f"/admin/members/{author.id}"
    html = editor_client.get(page).get_data(as_text=True)
    assert '<h2 id="posting-title">Posting</h2>' in html
    assert "2 in the last 30 days, 2 in all" in html and "3 on their posts" in html
    assert "none: may post" in html and "Suspend author@example.com" in html

    response = post_form(
        editor_client, f"{QUEUE}/members/{author.id}/suspend", duration="30d", next=page
    )
    assert response.status_code == 303 and response.location.endswith(page)
    html = editor_client.get(page).get_data(as_text=True)
    assert "cannot post until" in html and "Lift suspension" in html

    response = post_form(editor_client, f"{QUEUE}/members/{author.id}/lift", next=page)
    assert response.location.endswith(page)
    assert "none: may post" in editor_client.get(page).get_data(as_text=True)

    editor_page = editor_client.get(f"/admin/members/{people['editor'].id}")
    editor_html = editor_page.get_data(as_text=True)
    assert "Editors cannot be suspended." in editor_html
    assert "Suspend editor@example.com" not in editor_html
