"""A request's database work: the signed-in member is read in the transaction its view opens
(``db.opening_read``), so a signed-in page costs one BEGIN and one COMMIT, not two of each."""

from __future__ import annotations

from flask_login import current_user

from app.db import opening_read, transaction
from app.members.models import Member
from tests.conftest import counted_statements, make_member, sign_in


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
