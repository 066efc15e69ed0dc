"""B5: CR/LF and encoded newlines in a member's name and an issue's title reach the SMTP
sink as one header line each: no extra header, no extra recipient."""

from __future__ import annotations

import pytest

from app.discussions import notifications
from app.discussions import service as discussions
from app.discussions.models import Board
from app.issues import service as issues
from app.sending import jobs
from tests.conftest import make_member, run_jobs
from tests.discussions.conftest import topic

INJECTIONS = [
    "\r\nBcc: evil@example.com",
    "\nBcc: evil@example.com",
    "\rBcc: evil@example.com",
    "=?UTF-8?Q?=0A?=Bcc: evil@example.com",
    "=?UTF-8?B?DQpCY2M6IGV2aWxAZXhhbXBsZS5jb20=?=",
    "\u2028Bcc: evil@example.com\u0085To: evil@example.com",
    "Bread\n",  # a trailing newline (cpython#121650)
]


@pytest.mark.parametrize("injection", INJECTIONS)
def test_newlines_in_name_and_title_add_no_header_or_recipient(app, session, smtp, injection):
    editor = make_member(
        session, email="ed@example.com", role="editor", name=f"Ed{injection}", tier="paid"
    )
    issue = issues.save_issue(session, {"title": f"Bread{injection}", "body_markdown": "Hi."})
    issues.publish(session, issue)
    session.commit()
    with app.app_context():
        assert jobs.send_test(issue.id, editor.id)
    [received] = smtp.received
    assert received.recipients == ["ed@example.com"]
    assert_one_line_headers(received, "ed@example.com")


def assert_one_line_headers(received, address: str) -> None:
    message = received.message
    assert "Bcc" not in message and len(message.get_all("To")) == 1
    assert [a.addr_spec for a in message["To"].addresses] == [address]
    assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
    head = received.data.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in head and b"\nTo: evil" not in head
    assert b"\n" not in head.replace(b"\r\n", b"") and b"\r" not in head.replace(b"\r\n", b"")


@pytest.mark.parametrize("injection", INJECTIONS)
def test_newlines_in_a_members_topic_title_and_name_stay_out_of_reply_mail(
    app, session, smtp, redis, injection
):
    """A forum topic's title and a replier's name are member-written, and both reach the
    Subject and body of the reply notification."""
    board = Board(slug="b5", name="B5", access="members")
    asker = make_member(session, email="asker@example.com", name="Asker")
    replier = make_member(session, email="replier@example.com", name=f"Rex{injection}")
    session.add(board)
    session.commit()
    thread = topic(session, board, asker, title=f"Rye{injection}")
    first = discussions.create_post(session, asker, thread, "How long?")
    discussions.create_post(session, replier, thread, "Overnight.", parent_id=first.id)
    session.commit()
    with app.app_context():
        assert notifications.enqueue()
    run_jobs(app)
    [received] = smtp.received
    assert received.recipients == ["asker@example.com"]
    assert_one_line_headers(received, "asker@example.com")
