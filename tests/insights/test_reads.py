"""Web reads: every view of an issue page counts, cached ones too, written in batches."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from app.insights import reads
from app.insights.models import IssueReadDay
from app.issues import service as issues
from tests.conftest import sign_in


def read_days(session, issue) -> list[tuple]:
    session.expire_all()
    rows = session.scalars(select(IssueReadDay).where(IssueReadDay.issue_id == issue.id))
    return [(row.day, row.reads) for row in rows]


def test_cached_views_count_and_are_written_in_one_batch(app, client, session, issue):
    counter = app.extensions[reads.EXTENSION]
    counter.flush_seconds = 3600  # only an explicit flush writes
    cache = app.extensions["kith.page_cache"]
    cache.ttl = 3600
    cache.invalidate()
    for _ in range(5):
        assert client.get("/issues/week-three").status_code == 200
    assert "/issues/week-three?" in cache.pages  # four of the five never reached the view
    assert read_days(session, issue) == []  # nothing written per view
    assert counter.flush() == 5
    today = datetime.now(UTC).date()
    assert read_days(session, issue) == [(today, 5)]
    client.get("/issues/week-three")
    counter.flush()
    assert read_days(session, issue) == [(today, 6)]  # added to the day's row, not a new one
    assert counter.flush() == 0


def test_a_due_counter_flushes_on_the_next_view(app, client, session, issue):
    app.extensions[reads.EXTENSION].flush_seconds = 0
    client.get("/issues/week-three")
    assert read_days(session, issue)[0][1] == 1


def test_editors_and_missing_pages_do_not_count(app, client, session, issue, editor):
    counter = app.extensions[reads.EXTENSION]
    sign_in(client, editor)
    client.get("/issues/week-three")
    anonymous = app.test_client()
    assert anonymous.get("/issues/no-such-issue").status_code == 404
    assert counter.flush() == 0


def test_views_of_an_issue_deleted_before_the_flush_are_dropped(app, client, session, issue):
    counter = app.extensions[reads.EXTENSION]
    counter.flush_seconds = 3600
    client.get("/issues/week-three")
    other = issues.save_issue(session, {"title": "Other", "slug": "other"})
    issues.publish(session, other)
    session.commit()
    client.get("/issues/other")
    session.delete(other)
    session.commit()
    assert counter.flush() == 1
    assert read_days(session, issue)[0][1] == 1
