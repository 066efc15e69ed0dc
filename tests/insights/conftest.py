"""Insight fixtures: an issue with links and feedback choices, its readers, and a real send
through `kith send`, RQ and the SMTP sink."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from app.insights import tracking
from app.issues import service as issues
from app.sending.models import Delivery
from tests.conftest import make_member, run_jobs

BODY = """Our starter, week three.

Read [the recipe](https://example.org/recipe?flour=rye&water=70) and then
[the bakers' notes](https://bakers.example/notes).

<!-- more -->

The rest, and [the recipe](https://example.org/recipe?flour=rye&water=70) once more.
"""


@pytest.fixture
def issue(session):
    made = issues.save_issue(
        session,
        {"title": "Week three", "slug": "week-three", "body_markdown": BODY,
         "visibility": "public", "feedback_choices": 3},
    )  # fmt: skip
    issues.publish(session, made)
    session.commit()
    return made


@pytest.fixture
def readers(session):
    return {
        name: make_member(session, email=f"{name}@example.com", name=name.capitalize())
        for name in ("ann", "bob", "cyd", "dee", "eve", "fay")
    }


def counting(session, on: bool = True) -> None:
    tracking.set_enabled(session, on)
    session.commit()


@pytest.fixture
def send(app, session, smtp, redis) -> Callable:
    """Send an issue to a segment for real; returns {email: Delivery} of that issue."""

    def run(issue, segment: str = "all") -> dict[str, Delivery]:
        result = app.test_cli_runner().invoke(
            args=["send", issue.slug, "--segment", segment, "--yes"]
        )
        assert result.exit_code == 0, result.output
        run_jobs(app)
        session.expire_all()
        rows = session.scalars(select(Delivery).where(Delivery.issue_id == issue.id)).all()
        return {row.member_id: row for row in rows}

    return run


def received(smtp, email: str):
    """The parsed message the sink got for ``email``."""
    found = [message for message in smtp.received if email in message.recipients]
    assert len(found) == 1, f"{email} got {len(found)} messages"
    return found[0].message


def html_and_text(message) -> tuple[str, str]:
    return (
        message.get_body(("html",)).get_content(),
        message.get_body(("plain",)).get_content(),
    )
