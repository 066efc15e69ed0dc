"""One-click feedback links: a real send carries each member's own links; a GET records
nothing, a POST records and a second one changes the vote; a comment is private feedback;
forged, expired or stale links get a 400 page that says why."""

from __future__ import annotations

import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from app.discussions import service, votes
from app.discussions.models import FeedbackVote, Post
from app.members import tokens
from app.members.models import Member
from tests.conftest import SECRET, make_member, run_jobs, sign_in
from tests.discussions.conftest import publish_issue

LINK = re.compile(r"http://localhost/feedback/([A-Za-z0-9_.\-]+)/(\d)")


@pytest.fixture
def rated(session):
    return publish_issue(session, title="Crumb", slug="crumb", feedback_choices=5)


def token_for(app, member, issue) -> str:
    return tokens.sign(app.extensions["kith.settings"], "feedback", {"m": member.id, "i": issue.id})


def vote_of(session, member, issue) -> int | None:
    session.expire_all()
    return session.scalar(
        select(FeedbackVote.choice).where(
            FeedbackVote.member_id == member.id, FeedbackVote.issue_id == issue.id
        )
    )


def test_a_real_send_carries_working_links_for_each_member(app, session, rated, smtp, redis):
    readers = [make_member(session, email=f"reader{n}@example.com") for n in range(3)]
    result = app.test_cli_runner().invoke(args=["send", "crumb", "--segment", "all", "--yes"])
    assert result.exit_code == 0, result.output
    run_jobs(app)
    assert len(smtp.received) == len(readers)
    client = app.test_client()
    seen_tokens = set()
    for received in smtp.received:
        member = session.scalars(select(Member).filter_by(email=received.recipients[0])).one()
        message = received.message
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert "How was this issue?" in text and "How was this issue?" in html
        links = LINK.findall(text)
        assert [choice for _, choice in links] == ["1", "2", "3", "4", "5"]
        token = links[0][0]
        assert {found for found, _ in links} == {token}  # one token, five choices
        assert f'href="http://localhost/feedback/{token}/4"' in html
        payload = tokens.verify(app.extensions["kith.settings"], "feedback", token)
        assert payload == {"m": member.id, "i": rated.id}
        seen_tokens.add(token)
        page = client.get(f"/feedback/{token}/4")
        assert page.status_code == 200 and "You picked 4 of 5" in page.get_data(as_text=True)
        assert vote_of(session, member, rated) is None  # a GET (a link scanner) records nothing
        assert client.post(f"/feedback/{token}/4").status_code == 303
        assert vote_of(session, member, rated) == 4
    assert len(seen_tokens) == len(readers)


def test_an_issue_without_ratings_sends_no_links(app, session, smtp, redis):
    publish_issue(session, title="Plain", slug="plain")
    make_member(session)
    app.test_cli_runner().invoke(args=["send", "plain", "--segment", "all", "--yes"])
    run_jobs(app)
    text = smtp.received[0].message.get_body(("plain",)).get_content()
    assert "How was this issue?" not in text and "/feedback/" not in text


def test_the_get_page_offers_the_choices_and_the_script_that_sends_it(app, session, rated):
    member = make_member(session)
    html = app.test_client().get(f"/feedback/{token_for(app, member, rated)}/2").get_data(True)
    assert "You picked 2 of 5" in html and "data-autosubmit" in html
    assert 'src="/static/feedback_vote.js"' in html
    assert html.count('aria-label="') >= 5 and 'aria-label="2 of 5" aria-pressed="true"' in html
    assert 'for="comment"' in html  # the optional comment box has its label


def test_post_records_and_a_second_vote_changes_it(app, session, rated):
    member = make_member(session)
    token, client = token_for(app, member, rated), app.test_client()
    response = client.post(f"/feedback/{token}/2")  # no session, no CSRF token: the token is it
    assert response.status_code == 303  # then a GET: reloading it cannot post anything again
    assert response.headers["Location"] == f"/feedback/{token}/2?done=vote"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Thank you" in page and "<strong>2 of 5</strong>" in page
    assert "data-autosubmit" not in page and "feedback_vote.js" not in page  # sent already
    assert client.post(f"/feedback/{token}/5").status_code == 303
    assert vote_of(session, member, rated) == 5
    assert session.query(FeedbackVote).filter_by(issue_id=rated.id).count() == 1
    again = client.get(f"/feedback/{token}/3").get_data(as_text=True)
    assert "Your rating so far: 5 of 5" in again


def test_a_comment_is_private_feedback_for_the_editor(app, session, rated, people):
    member = people["free"]
    response = app.test_client().post(
        f"/feedback/{token_for(app, member, rated)}/1",
        data={"comment": "The crumb section lost me entirely."},
        follow_redirects=True,
    )
    assert response.status_code == 200 and "reached the editor" in response.get_data(True)
    post = session.scalars(select(Post).where(Post.author_id == member.id)).one()
    assert post.private and post.thread.issue_id == rated.id and post.source == "web"
    shown = {who: service.shown_posts(session, people[who], post.thread) for who in people}
    assert [s.post.id for s in shown["editor"]] == [post.id]
    assert [s.post.id for s in shown["free"]] == [post.id]
    assert shown["paid"] == [] and shown["invite"] == []
    assert vote_of(session, member, rated) == 1


def test_a_comment_is_dropped_silently_when_the_discussion_is_off(app, session):
    closed = publish_issue(session, title="Closed", discussion="off", feedback_choices=3)
    member = make_member(session)
    response = app.test_client().post(
        f"/feedback/{token_for(app, member, closed)}/3",
        data={"comment": "Lovely."},
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Thank you" in page and "reached the editor" not in page
    assert vote_of(session, member, closed) == 3
    assert session.query(Post).count() == 0


@pytest.mark.parametrize(
    ("visibility", "comment", "status", "message"),
    [
        ("members", "x" * (service.MAX_BODY + 1), 400, "That is too long"),
        ("paid", "Let me in!", 403, "This discussion is for paid members."),
    ],
)
def test_a_refused_comment_records_nothing_and_keeps_the_text(
    app, session, visibility, comment, status, message
):
    issue = publish_issue(session, title="Gated", visibility=visibility, feedback_choices=5)
    member = make_member(session, tier="free")
    response = app.test_client().post(
        f"/feedback/{token_for(app, member, issue)}/4", data={"comment": comment}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == status
    assert message in page and "Nothing was recorded" in page and comment[:50] in page
    assert vote_of(session, member, issue) is None and session.query(Post).count() == 0


def expired_token(member, issue) -> str:
    class LongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 91 * 24 * 3600

    serializer = URLSafeTimedSerializer(SECRET, salt="kith.feedback", signer=LongAgo)
    return serializer.dumps({"m": member.id, "i": issue.id})


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("forged", "This link is not valid"),
        ("expired", "This link has expired"),
        ("other purpose", "This link is not valid"),
        ("out of range", "Pick a number from 1 to 5."),
        ("deleted member", "no longer matches"),
        ("ratings off", "no longer asks for ratings"),
    ],
)
def test_bad_links_get_a_400_page_and_record_nothing(app, session, rated, method, case, reason):
    member = make_member(session)
    settings = app.extensions["kith.settings"]
    token, choice = token_for(app, member, rated), 3
    if case == "forged":
        token = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    elif case == "expired":
        token = expired_token(member, rated)
    elif case == "other purpose":
        token = tokens.sign(settings, "reply", {"m": member.id, "i": rated.id})
    elif case == "out of range":
        choice = 6
    elif case == "deleted member":
        token = tokens.sign(settings, "feedback", {"m": member.id + 1000, "i": rated.id})
    else:
        rated.feedback_choices = 0
        session.commit()
    response = getattr(app.test_client(), method)(f"/feedback/{token}/{choice}")
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    assert session.query(FeedbackVote).count() == 0


def test_results_count_each_choice_and_average(session, rated, people):
    for who, choice in (("free", 5), ("paid", 4), ("invite", 4), ("editor", 1)):
        session.add(FeedbackVote(issue_id=rated.id, member_id=people[who].id, choice=choice))
    session.commit()
    figures = votes.results(session, rated)
    assert figures.counts == {1: 1, 2: 0, 3: 0, 4: 2, 5: 1}
    assert figures.voters == 4 and figures.average == pytest.approx(3.5)
    rated.feedback_choices = 3  # fewer choices later: earlier votes still show
    assert votes.results(session, rated).choices == 5


def test_results_of_an_issue_nobody_rated(session, rated):
    figures = votes.results(session, rated)
    assert (
        figures.voters == 0 and figures.average is None and set(figures.counts) == {1, 2, 3, 4, 5}
    )


def test_a_member_signed_in_as_someone_else_still_votes_as_the_link_says(app, session, rated):
    owner, other = make_member(session), make_member(session)
    client = app.test_client()
    sign_in(client, other)
    client.post(f"/feedback/{token_for(app, owner, rated)}/2")
    assert vote_of(session, owner, rated) == 2 and vote_of(session, other, rated) is None


def test_a_thanks_page_needs_the_vote_to_be_there(app, session, rated):
    member = make_member(session)
    page = app.test_client().get(f"/feedback/{token_for(app, member, rated)}/3?done=vote")
    html = page.get_data(as_text=True)
    assert "Thank you" not in html and "You picked 3 of 5" in html
    assert "data-autosubmit" not in html  # a "done" page never sends by itself
