"""A request's database work: the signed-in member is read in the transaction its view opens
(``db.opening_read``), so a signed-in page costs one BEGIN and one COMMIT, not two of each."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask_login import current_user
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import create_app, db
from app.db import opening_read, reading, transaction
from app.discussions import service
from app.discussions.models import Board, ReadMarker, Thread
from app.issues import service as issues
from app.members.models import Member
from tests.conftest import POSTGRES_URL, SECRET, close_app, counted_statements, make_member, sign_in
from tests.workers import create_database, drop_database


def transactions(statements: list[str]) -> list[list[str]]:
    """The statements of each transaction a request ran, in order (in tests each one is a
    SAVEPOINT, released or rolled back to, on the test's connection)."""
    runs: list[list[str]] = []
    for statement in statements:
        if statement.startswith("SAVEPOINT"):
            runs.append([])
        elif not statement.startswith(("RELEASE", "ROLLBACK TO")):
            runs[-1].append(" ".join(statement.split()))
    return runs


def test_a_signed_in_page_reads_its_member_in_the_views_transaction(client, session):
    sign_in(client, make_member(session))
    with counted_statements(session, savepoints=True) as statements:
        assert client.get("/archive").status_code == 200
    first = transactions(statements)[0]
    assert "FROM members" in first[0] and any("FROM issues" in sql for sql in first[1:]), first


def test_a_request_that_opens_no_transaction_still_ends_its_opening_read(client, session):
    sign_in(client, make_member(session))
    with counted_statements(session, savepoints=True) as statements:
        assert client.get("/no-such-page").status_code == 404
    begun = sum(statement.startswith("SAVEPOINT") for statement in statements)
    ended = sum(statement.startswith(("RELEASE", "ROLLBACK TO")) for statement in statements)
    assert begun == ended >= 1, statements


def test_the_member_outlives_a_view_transaction_that_rolls_back(app, session):
    member = make_member(session, name="Ines")
    with app.test_request_context("/"):
        with opening_read() as reading:
            loaded = reading.get(Member, member.id)
            reading.expunge(loaded)
        try:
            with transaction() as view:  # continues the opening read, then fails
                view.get(Member, member.id).name = "changed"
                raise RuntimeError("the view failed")
        except RuntimeError:
            pass
        assert loaded.name == "Ines"  # still readable: not expired with the rollback
    session.expire_all()
    assert session.get(Member, member.id).name == "Ines"


def test_an_immediate_transaction_does_not_continue_the_opening_read(app, session):
    """SQLite cannot take the write lock in a transaction that has read already."""
    member = make_member(session)
    with app.test_request_context("/"):
        with opening_read() as reading:
            reading.get(Member, member.id)
        with transaction(immediate=True) as writing:
            assert writing is not reading
            writing.get(Member, member.id).name = "written"
    session.expire_all()
    assert session.get(Member, member.id).name == "written"


def test_outside_a_request_it_is_an_ordinary_transaction(app, session):
    member = make_member(session)
    with app.app_context():
        with opening_read() as reading:
            reading.get(Member, member.id).name = "committed"
        assert not current_user  # no request: flask-login has no user to give
    session.expire_all()
    assert session.get(Member, member.id).name == "committed"


# On PostgreSQL, for real: an app whose sessions commit (not the rolled-back test connection).


@pytest.fixture
def committed(tmp_path, redis_url) -> Iterator[Flask]:
    if not POSTGRES_URL:
        pytest.skip("autocommit and the pool's pings are PostgreSQL's")
    url = create_database("postgresql", tmp_path, suffix="reading")
    app = create_app(
        {"database_url": url, "redis_url": redis_url, "secret_key": SECRET,
         "instance_path": tmp_path / "instance", "page_cache_seconds": 0}
    )  # fmt: skip
    yield app
    close_app(app)
    drop_database(url)


def autocommitted(session: Session) -> bool:
    """Whether each statement commits on its own: the second statement of a transaction block
    starts after the block did, one that stands alone starts with its own transaction."""
    session.execute(text("SELECT pg_sleep(0.002)"))
    return session.scalar(text("SELECT statement_timestamp() = transaction_timestamp()"))


def test_a_get_reads_without_begin_or_commit_and_a_transaction_still_is_one(committed):
    with committed.test_request_context("/", method="GET"):
        with opening_read() as opening:
            assert autocommitted(opening)
        with reading() as page:
            assert page is opening and autocommitted(page)  # continues the opening read
        with pytest.raises(RuntimeError), transaction() as writing:
            assert not autocommitted(writing)
            writing.add(Member(email="half@example.com", status="active"))
            writing.flush()
            raise RuntimeError("the view failed after writing")
    with committed.test_request_context("/", method="POST"), opening_read() as opening:
        assert not autocommitted(opening)  # a form post's transaction continues it
    with committed.app_context(), transaction() as session:
        assert session.scalar(select(Member.id)) is None  # the failed write was all undone


def test_a_thread_page_marks_it_read_once_per_new_post(committed):
    database = committed.extensions["kith.db"]
    with database.transaction() as session:
        reader = Member(email="reader@example.com", status="active")
        board = Board(slug="open", name="Open", access="public")
        session.add_all([reader, board])
        session.flush()
        thread = Thread(kind="topic", board_id=board.id, title="Bread", author_id=reader.id)
        session.add(thread)
        session.flush()
        service.create_post(session, reader, thread, "First loaf")
        thread_id = thread.id
    client = committed.test_client()
    sign_in(client, reader)
    read_at = select(ReadMarker.read_at).where(ReadMarker.member_id == reader.id)

    def visit():
        assert client.get(f"/t/{thread_id}").status_code == 200
        with database.transaction() as session:
            return session.scalar(read_at)

    first = visit()
    assert first is not None
    assert visit() == first  # nothing new: nothing written
    with database.transaction() as session:
        service.create_post(
            session, session.get(Member, reader.id), session.get(Thread, thread_id), "Second loaf"
        )
    assert visit() > first


def test_the_first_signed_in_view_of_an_issue_makes_its_thread_once(committed):
    """The issue page reads in autocommit: its thread is made by one statement, no savepoint."""
    database = committed.extensions["kith.db"]
    with database.transaction() as session:
        reader = Member(email="first@example.com", status="active")
        session.add(reader)
        issue = issues.save_issue(session, {"title": "Rye", "body_markdown": "Dense."})
        issues.publish(session, issue)
        slug = issue.slug
    client = committed.test_client()
    sign_in(client, reader)
    for _ in range(2):
        assert client.get(f"/issues/{slug}").status_code == 200
    with database.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Thread)) == 1


def test_a_connection_is_pinged_only_after_sitting_idle(committed, monkeypatch):
    """Killed behind the pool's back: after a pause the ping replaces it unseen; reused at
    once it fails that one use, and the disconnect makes the pool reconnect the next."""
    database = committed.extensions["kith.db"]

    def kill_pooled_connection() -> None:
        with database.transaction() as session:
            victim = session.scalar(text("SELECT pg_backend_pid()"))
        killer = create_engine(database.engine.url, isolation_level="AUTOCOMMIT")
        with killer.connect() as other:  # not from the pool: it would hand out the victim
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
        killer.dispose()
        time.sleep(0.05)

    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    kill_pooled_connection()
    with database.transaction() as session:
        assert session.scalar(text("SELECT 1")) == 1

    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 60.0)
    kill_pooled_connection()
    with pytest.raises(OperationalError), database.transaction() as session:
        session.scalar(text("SELECT 1"))
    with database.transaction() as session:
        assert session.scalar(text("SELECT 1")) == 1
