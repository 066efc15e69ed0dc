"""The issue report, asserted against a real send: bounces, complaints, unsubscribes through
the issue's own link, replies, feedback votes and web reads (cached pages included)."""

from __future__ import annotations

import csv
import io
from urllib.parse import urlsplit

import pytest

from app.discussions import service as discussions
from app.discussions.models import FeedbackVote
from app.insights import reads, service
from app.members.subscriptions import unsubscribe_url
from app.sending.bounces import record_bounce
from tests.conftest import make_member, sign_in
from tests.insights.conftest import received


def one_click(client, message) -> None:
    """What a mail client does with RFC 8058's List-Unsubscribe-Post."""
    link = str(message["List-Unsubscribe"]).split(",")[0].strip().strip("<>")
    response = client.post(urlsplit(link).path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200


@pytest.fixture
def sent(app, session, issue, readers, editor, send, smtp):
    """The issue sent to everyone, then what came back: the scenario every test reads."""
    quiet = make_member(session, email="quiet@example.com", status="unsubscribed")
    deliveries = send(issue)
    assert quiet.id not in deliveries  # never mailed, so never a recipient
    ids = {name: member.id for name, member in readers.items()}

    def bounce(name, kind, report):
        record_bounce(
            session, member_id=ids[name], delivery_id=deliveries[ids[name]].id, kind=kind,
            status_code="5.1.1" if kind == "hard" else "4.2.2", report_id=report,
        )  # fmt: skip

    bounce("ann", "hard", "<r1@mx>")
    bounce("ann", "hard", "<r1@mx>")  # the same report twice counts once
    bounce("bob", "soft", "<r2@mx>")
    bounce("cyd", "complaint", "<r3@mx>")
    session.commit()
    client = app.test_client()
    one_click(client, received(smtp, "dee@example.com"))
    # Unsubscribing through a link that names no issue is nobody's report.
    other = urlsplit(unsubscribe_url(app.extensions["kith.settings"], readers["eve"])).path
    assert client.post(other, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    thread = discussions.issue_thread(session, issue)
    discussions.create_post(session, readers["fay"], thread, "Lovely crumb.")
    discussions.create_post(session, readers["eve"], thread, "Just for you.", private=True)
    deleted = discussions.create_post(session, readers["fay"], thread, "Oops.")
    deleted.status = "deleted"
    for name, choice in (("eve", 3), ("fay", 3), ("ann", 1)):
        session.add(FeedbackVote(issue_id=issue.id, member_id=ids[name], choice=choice))
    session.commit()
    return deliveries


def test_the_report_counts_what_the_send_and_its_readers_did(app, session, issue, sent, readers):
    client = app.test_client()
    for _ in range(3):  # one render, then two pages from the cache
        assert client.get("/issues/week-three").status_code == 200
    member = app.test_client()
    sign_in(member, readers["fay"])
    assert member.get("/issues/week-three").status_code == 200
    app.extensions[reads.EXTENSION].flush()

    report = service.issue_report(session, issue)
    values = {figure.key: figure.value for figure in report.figures}
    assert values == {
        "recipients": 7,  # six readers and the editor; never the unsubscribed member
        "delivered": 5,  # all accepted; ann (hard) and bob (soft) bounced; cyd's complaint arrived
        "pending": 0,
        "failed": 0,
        "uncertain": 0,
        "skipped": 0,
        "bounced_hard": 1,
        "bounced_soft": 1,
        "complaints": 1,
        "unsubscribes": 1,  # dee, through this issue's email; not eve's plain link
        "replies_public": 1,
        "replies_private": 1,
        "web_reads": 4,
        "opened": 0,
        "machine_opens": 0,
        "clicked": 0,
    }
    assert report.votes == [(1, 1), (2, 0), (3, 2)]
    assert report.figure("unsubscribes").percent == pytest.approx(20.0)
    assert report.figure("delivered").percent == pytest.approx(100 * 5 / 7)
    assert not report.counting and not report.counted


def test_the_report_page_and_its_csv(client, session, issue, sent, editor):
    sign_in(client, editor)
    page = client.get("/admin/issues/week-three/report").get_data(as_text=True)
    assert "Report: Week three" in page
    assert 'id="figure-complaints"' in page and "20.0 %" in page
    assert 'id="counting-off"' in page  # opens and clicks are off, and it says how to turn on
    response = client.get("/admin/issues/week-three/report.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "week-three-report.csv" in response.headers["Content-Disposition"]
    rows = {row[0]: row[1:] for row in csv.reader(io.StringIO(response.get_data(as_text=True)))}
    assert rows["Recipients"] == ["7", "", ""]
    assert rows["Unsubscribed from this issue"] == ["1", "20.0", "5"]
    assert rows["feedback vote 3"][0] == "2"


def test_an_unknown_issue_has_no_report(client, editor):
    sign_in(client, editor)
    assert client.get("/admin/issues/no-such-issue/report").status_code == 404
    assert client.get("/admin/issues/no-such-issue/report.csv").status_code == 404


def test_a_draft_reports_zeros_without_failing(client, session, editor):
    from app.issues import service as issues

    issues.save_issue(session, {"title": "Draft", "slug": "a-draft"})
    session.commit()
    sign_in(client, editor)
    page = client.get("/admin/issues/a-draft/report").get_data(as_text=True)
    assert "Report: Draft" in page and "offered no feedback choices" in page


@pytest.mark.parametrize(
    "path",
    [
        "/admin/issues/week-three/report",
        "/admin/issues/week-three/report.csv",
        "/admin/audience/growth",
        "/admin/audience/growth.csv",
        "/admin/settings/tracking",
    ],
)
def test_only_editors_see_insight_pages(client, session, issue, path):
    assert client.get(path).status_code == 302  # anonymous: sign in first
    assert "/login" in client.get(path).headers["Location"]
    sign_in(client, make_member(session, email="reader@example.com"))
    assert client.get(path).status_code == 403


def test_insight_forms_need_their_csrf_token(client, session, editor):
    sign_in(client, editor)
    assert client.post("/admin/audience/growth/refresh").status_code == 400
    assert client.post("/admin/settings/tracking", data={"counting": "y"}).status_code == 400
    from app.insights import tracking

    assert tracking.enabled(session) is False
