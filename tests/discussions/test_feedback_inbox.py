"""The editor's feedback inbox: every member's post on an issue's thread, filtered, marked
handled, answered (the member notified through the real SMTP sink with a reply token for the
conversation; private feedback answered privately), for editors only, with CSRF."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.db import utcnow
from app.discussions import service
from app.discussions.models import FeedbackVote, Notification, Post
from app.members import tokens
from tests.conftest import csrf_token, make_member, run_jobs, sign_in
from tests.discussions.conftest import publish_issue, topic

WORDS = {
    "free": "Free reader: the hydration table was a revelation.",
    "paid": "Paid reader, privately: the photos did not load for me.",
    "invite": "Invited reader replying: same here, gummy crumb.",
    "other": "On the other issue: more rye, please.",
}
NEVER = {
    "editor": "The editor's own note in the thread.",
    "forum": "A forum post, not feedback on an issue.",
    "deleted": "A deleted post.",
}


@pytest.fixture
def posts(session, thread, people, boards):
    free, paid, invite = people["free"], people["paid"], people["invite"]
    start = utcnow() - timedelta(hours=1)
    made = {
        "free": service.create_post(session, free, thread, WORDS["free"], now=start),
        "paid": service.create_post(
            session,
            paid,
            thread,
            WORDS["paid"],
            private=True,
            source="email",
            message_id="<m1@mail.example>",
            now=start + timedelta(minutes=1),
        ),  # fmt: skip
    }
    made["invite"] = service.create_post(
        session, invite, thread, WORDS["invite"], parent_id=made["free"].id,
        now=start + timedelta(minutes=2),
    )  # fmt: skip
    other = service.issue_thread(session, publish_issue(session, title="Rye"))
    made["other"] = service.create_post(
        session, free, other, WORDS["other"], now=start + timedelta(minutes=3)
    )
    service.create_post(session, people["editor"], thread, NEVER["editor"])
    service.create_post(session, free, topic(session, boards["members"], free), NEVER["forum"])
    deleted = service.create_post(session, invite, thread, NEVER["deleted"])
    deleted.status = "deleted"
    session.execute(update(Notification).values(sent_at=utcnow()))  # old news: not under test
    session.commit()
    return made


@pytest.fixture
def editor_client(client, people):
    sign_in(client, people["editor"])
    return client


def shown(client, query: str = "") -> str:
    response = client.get("/admin/feedback" + query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def test_every_members_post_on_an_issue_thread_newest_first(editor_client, posts, people):
    html = shown(editor_client)
    positions = [html.index(WORDS[key]) for key in ("other", "invite", "paid", "free")]
    assert positions == sorted(positions)
    assert not any(words in html for words in NEVER.values())
    assert "4 unhandled · 4 in all" in html
    assert f'href="/admin/members/{people["paid"].id}"' in html
    assert "Private" in html and "By email" in html and "Unhandled" in html
    assert f'href="/t/{posts["free"].thread_id}#post-{posts["free"].id}"' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?tier=paid", {"paid"}),
        ("?tier=invite", {"invite"}),
        ("?source=email", {"paid"}),
        ("?source=web", {"free", "invite", "other"}),
        ("?private=1", {"paid"}),
        ("?unhandled=1", {"paid", "invite", "other"}),  # the free post is handled (below)
        ("?tier=free&source=web", {"free", "other"}),
    ],
)
def test_filters(editor_client, session, posts, query, expected):
    posts["free"].handled_at = utcnow()
    session.commit()
    html = shown(editor_client, query)
    assert {key for key, words in WORDS.items() if words in html} == expected


def test_the_issue_filter_shows_its_feedback_and_its_ratings(editor_client, session, posts, people):
    issue = posts["free"].thread.issue
    issue.feedback_choices = 5
    for who, choice in (("free", 5), ("paid", 4), ("invite", 3)):
        session.add(FeedbackVote(issue_id=issue.id, member_id=people[who].id, choice=choice))
    session.commit()
    html = shown(editor_client, f"?issue={issue.id}")
    assert {key for key, words in WORDS.items() if words in html} == {"free", "paid", "invite"}
    assert "3 readers rated it · average <strong>4.0</strong> of 5" in html
    assert '<meter min="0" max="3" value="1">33%</meter>' in html
    other = posts["other"].thread.issue
    assert "asks for no ratings" in shown(editor_client, f"?issue={other.id}")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?tier=gold", "The tier is one of: free, paid, invite."),
        ("?source=fax", "The source is one of: web, email."),
        ("?issue=abc", "Choose an issue from the list."),
        ("?issue=99999", "There is no such issue."),
        ("?issue=99999999999999999999", "Choose an issue from the list."),
        ("?page=0", "The page is a number from 1."),
        ("?page=-1", "The page is a number from 1."),
    ],
)
def test_bad_filters_are_explained(editor_client, posts, query, message):
    response = editor_client.get("/admin/feedback" + query)
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_pages(editor_client, session, thread):
    start = utcnow() - timedelta(days=2)
    for n in range(27):  # spaced out: the posting rate limit is per ten minutes
        author = make_member(session, email=f"many{n}@example.com")
        service.create_post(
            session, author, thread, f"Note number {n}.", now=start + timedelta(minutes=n)
        )
    session.commit()
    first = shown(editor_client)
    assert (
        "Note number 26." in first and "Note number 2." in first and "Note number 1." not in first
    )
    assert "page 1 of 2" in first and 'rel="next" href="/admin/feedback?page=2"' in first
    second = shown(editor_client, "?page=2")
    assert (
        "Note number 1." in second
        and "Note number 0." in second
        and "Note number 26." not in second
    )
    assert "Note number 0." in shown(editor_client, "?page=999")  # past the end: the last page


def test_mark_handled_and_unhandled(editor_client, session, posts):
    post = posts["paid"]
    token = csrf_token(editor_client, "/admin/feedback")
    back = "/admin/feedback?private=1"
    response = editor_client.post(
        f"/admin/feedback/{post.id}/handled",
        data={"csrf_token": token, "handled": "1", "back": back},
    )
    assert response.status_code == 303 and response.headers["Location"] == back
    session.expire_all()
    assert session.get(Post, post.id).handled_at is not None
    assert "3 unhandled · 4 in all" in shown(editor_client)
    editor_client.post(
        f"/admin/feedback/{post.id}/handled",
        data={"csrf_token": token, "handled": "0", "back": "https://evil.example/"},
    )
    session.expire_all()
    assert session.get(Post, post.id).handled_at is None
    bad = editor_client.post(
        f"/admin/feedback/{post.id}/handled", data={"csrf_token": token, "handled": "maybe"}
    )
    assert bad.status_code == 400


def answer(client, post, body, back="/admin/feedback"):
    token = csrf_token(client, "/admin/feedback")
    return client.post(
        f"/admin/feedback/{post.id}/answer", data={"csrf_token": token, "body": body, "back": back}
    )


def reply_token(app, message) -> dict:
    local = message["Reply-To"].partition("@")[0].removeprefix("reply+")
    return tokens.verify(app.extensions["kith.settings"], "reply", local)


def test_answering_posts_in_the_thread_marks_handled_and_mails_the_member(
    app, editor_client, session, posts, people, smtp, redis
):
    post = posts["free"]
    response = answer(editor_client, post, "Thank you! The table is in the appendix.")
    assert response.status_code == 303
    session.expire_all()
    reply = session.scalars(select(Post).where(Post.parent_id == post.id, Post.is_answer)).one()
    assert not reply.private and session.get(Post, post.id).handled_at is not None
    assert "The table is in the appendix." in shown(editor_client)  # shown under the post
    run_jobs(app)
    to_free = [m for m in smtp.received if m.recipients == ["free@example.com"]]
    assert len(to_free) == 1
    message = to_free[0].message
    assert message["Subject"] == "Ed (editor) answered you in “Sourdough”"
    assert "The table is in the appendix." in message.get_body(("plain",)).get_content()
    assert reply_token(app, message) == {"m": people["free"].id, "t": post.thread_id, "p": post.id}
    # The invited member replied in that conversation: told too, as a public answer.
    assert smtp.counts() == {"free@example.com": 1, "invite@example.com": 1}


def test_an_answer_to_private_feedback_stays_private(
    app, editor_client, session, posts, people, smtp, redis
):
    post = posts["paid"]
    secret = "Only for you: the photos are back, sorry."
    assert answer(editor_client, post, secret).status_code == 303
    session.expire_all()
    reply = session.scalars(select(Post).where(Post.parent_id == post.id)).one()
    assert reply.private and reply.is_answer
    thread = post.thread
    for who in ("free", "invite"):
        seen = service.shown_posts(session, people[who], thread)
        texts = [s.post.body_markdown for s in seen] + [
            r.post.body_markdown for s in seen for r in s.replies
        ]
        assert secret not in texts
    run_jobs(app)
    assert smtp.counts() == {"paid@example.com": 1}
    message = smtp.received[0].message
    assert secret in message.get_body(("plain",)).get_content()
    assert "Only you and the editor see this." in message.get_body(("plain",)).get_content()
    assert reply_token(app, message) == {"m": people["paid"].id, "t": thread.id, "p": post.id}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "Write your answer first."),
        ("   ", "Write your answer first."),
        ("y" * (service.MAX_BODY + 1), "That is too long"),
    ],
)
def test_a_refused_answer_posts_nothing_and_keeps_the_text(
    editor_client, session, posts, body, message
):
    response = answer(editor_client, posts["free"], body)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and message in html and "Nothing was posted" in html
    assert body[:40] in html
    session.expire_all()
    assert session.get(Post, posts["free"].id).handled_at is None
    assert session.query(Post).filter(Post.is_answer.is_(True)).count() == 0
    assert session.query(Notification).filter_by(kind="answer").count() == 0


def test_the_answer_page_shows_the_post_and_a_labelled_form(editor_client, posts):
    html = editor_client.get(f"/admin/feedback/{posts['paid'].id}/answer").get_data(as_text=True)
    assert WORDS["paid"] in html and '<label for="body">Your answer</label>' in html
    assert "Your answer stays private" in html


def test_only_feedback_can_be_answered_or_marked(editor_client, session, posts, people, boards):
    editors = service.create_post(session, people["editor"], posts["free"].thread, "Mine.")
    forum = service.create_post(
        session, people["free"], topic(session, boards["public"], people["free"]), "Hi."
    )
    session.commit()
    token = csrf_token(editor_client, "/admin/feedback")
    for post_id in (editors.id, forum.id, 999_999):
        assert editor_client.get(f"/admin/feedback/{post_id}/answer").status_code == 404
        handled = editor_client.post(
            f"/admin/feedback/{post_id}/handled", data={"csrf_token": token, "handled": "1"}
        )
        assert handled.status_code == 404


ROUTES = [
    ("get", "/admin/feedback"),
    ("get", "/admin/feedback/{id}/answer"),
    ("post", "/admin/feedback/{id}/answer"),
    ("post", "/admin/feedback/{id}/handled"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("who", ["anonymous", "pending", "free", "paid", "invite"])
def test_only_editors_reach_the_inbox(app, session, posts, people, method, path, who):
    client = app.test_client()
    if who != "anonymous":
        sign_in(client, people[who])
    app.config["WTF_CSRF_ENABLED"] = False  # so a refusal can only come from the access check
    target = posts["paid"]
    response = getattr(client, method)(
        path.format(id=target.id), data={"body": "Sneaky.", "handled": "1"}
    )
    if who in ("anonymous", "pending"):  # a pending member cannot sign in at all
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    else:
        assert response.status_code == 403
    session.expire_all()
    assert session.get(Post, target.id).handled_at is None
    assert session.query(Post).filter(Post.is_answer.is_(True)).count() == 0
    assert WORDS["paid"] not in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/admin/feedback/{id}/answer", "/admin/feedback/{id}/handled"])
def test_posts_without_a_csrf_token_are_refused(editor_client, session, posts, path):
    post = posts["free"]
    response = editor_client.post(path.format(id=post.id), data={"body": "Hi.", "handled": "1"})
    assert response.status_code == 400
    session.expire_all()
    assert session.get(Post, post.id).handled_at is None
    assert session.query(Post).filter(Post.is_answer.is_(True)).count() == 0


def test_the_issue_editor_links_to_its_feedback(editor_client, posts):
    issue = posts["free"].thread.issue
    html = editor_client.get(f"/admin/issues/{issue.id}").get_data(as_text=True)
    assert f'href="/admin/feedback?issue={issue.id}"' in html
