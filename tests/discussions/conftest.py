"""Discussion fixtures: a published issue with its thread, boards, and members of each kind."""

from __future__ import annotations

import pytest

from app.discussions import service
from app.discussions.models import Board, Thread
from app.issues import service as issues
from tests.conftest import make_member


def publish_issue(session, **values):
    fields = {"title": "An issue", "body_markdown": "Open part.\n\n<!-- more -->\n\nThe rest."}
    issue = issues.save_issue(session, fields | values)
    issues.publish(session, issue)
    session.commit()
    return issue


@pytest.fixture
def issue(session):
    return publish_issue(session, title="Sourdough", visibility="members")


@pytest.fixture
def thread(session, issue) -> Thread:
    found = service.issue_thread(session, issue)
    session.commit()
    return found


@pytest.fixture
def people(session):
    return {
        "free": make_member(session, email="free@example.com", tier="free", name="Free Reader"),
        "paid": make_member(session, email="paid@example.com", tier="paid", name="Paid Reader"),
        "invite": make_member(session, email="invite@example.com", tier="invite"),
        "pending": make_member(session, email="pending@example.com", status="pending"),
        "editor": make_member(session, email="editor@example.com", role="editor", name="Ed"),
    }


@pytest.fixture
def boards(session):
    made = {
        access: Board(slug=access, name=f"{access.capitalize()} board", access=access)
        for access in ("public", "members", "paid")
    }
    session.add_all(made.values())
    session.commit()
    return made


def topic(session, board, author, title="A topic") -> Thread:
    thread = Thread(kind="topic", board_id=board.id, title=title, author_id=author.id)
    session.add(thread)
    session.commit()
    return thread
