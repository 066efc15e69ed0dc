"""Segment expressions: clear errors with positions, and SQL that agrees with plain Python."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.members import audience, segments
from app.members.models import STATUSES, TIERS, Member

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["all ", " all", "(all) ", "tier:paid\r\n", "\tall\t"])
def test_surrounding_whitespace_is_fine(text):
    assert segments.parse(text) is not None


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("tie:paid", "unknown term 'tie:paid'", 1),
        ("tier:gold", "unknown tier 'gold'", 1),
        ("tier:paid AND", "ends where a term was expected", 14),
        ("(tier:paid", "missing ')'", 11),
        ("tier:paid tag:x", "expected AND, OR or the end, found 'tag:x'", 11),
        ("", "empty; use 'all'", 1),
        ('tag:"open', "unclosed quote", 5),
        ("joined:>yesterday", "neither a date", 1),
        ("opened:=3d", "use < or > with an age", 1),
        ("AND tier:paid", "expected a term, found 'AND'", 1),
        ("field:city", "write field:NAME=VALUE", 1),
        ("status:gone", "unknown status 'gone'", 1),
        ("tier:paid AND engaged:hot", "unknown engagement level 'hot'", 15),
        ("tier:paid OR OR tag:x", "expected a term, found 'OR'", 14),
        ("everyone", "unknown term 'everyone'", 1),
        ("opened:<9999999999d", "is not a useful opened:", 1),
        ("joined:>9999-12-31", "out of range", 1),
        ("joined:>0001-01-01", "out of range", 1),
    ],
)
def test_bad_expressions_say_what_and_where(text, message, position):
    with pytest.raises(segments.SegmentError) as raised:
        segments.parse(text)
    assert message in raised.value.message
    assert raised.value.position + 1 == position
    assert f"(at position {position})" in str(raised.value)


def member(session, email, **values) -> Member:
    tags = values.pop("tags", ())
    row = Member(
        email=email,
        status=values.pop("status", "active"),
        fields=values.pop("fields", {}),
        **values,
    )
    session.add(row)
    session.flush()
    audience.set_tags(session, [row.id], tags, add=True)
    return row


def emails(session, text: str, *, recipients: bool = False) -> set[str]:
    condition = (
        segments.recipients_condition(text, now=NOW)
        if recipients
        else segments.where(text, now=NOW)
    )
    return set(session.scalars(select(Member.email).where(condition)))


@pytest.fixture
def people(session):
    member(
        session,
        "ann@x.org",
        tier="paid",
        tags=["sourdough", "rye club"],
        created_at=NOW - timedelta(days=400),
        last_opened_at=NOW - timedelta(days=3),
        fields={"city": "New York"},
    )
    member(
        session,
        "bob@x.org",
        tier="free",
        tags=["sourdough"],
        created_at=NOW - timedelta(days=10),
        last_opened_at=NOW - timedelta(days=100),
    )
    member(
        session,
        "cy@x.org",
        tier="invite",
        status="unsubscribed",
        created_at=NOW - timedelta(days=40),
        last_replied_at=NOW - timedelta(days=5),
        fields={"city": "Lyon"},
    )
    member(
        session,
        "di@x.org",
        tier="paid",
        status="pending",
        created_at=datetime(2026, 1, 31, 23, 0, tzinfo=UTC),
    )
    member(
        session,
        "ed@x.org",
        tier="paid",
        email_issues=False,
        created_at=datetime(2026, 2, 1, 9, 0, tzinfo=UTC),
    )
    session.commit()  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("all", {"ann", "bob", "cy", "di", "ed"}),
        ("tier:paid", {"ann", "di", "ed"}),
        ("tier:free|invite", {"bob", "cy"}),
        ('tag:sourdough AND NOT tag:"rye club"', {"bob"}),
        ("TAG:SOURDOUGH", set()),  # keys are case-insensitive, tag names are not
        ("status:unsubscribed OR status:pending", {"cy", "di"}),
        ("joined:>2026-01-31", {"ed", "bob", "cy"}),
        ("joined:=2026-01-31", {"di"}),
        ("joined:<30d", {"bob"}),
        ("opened:<30d", {"ann"}),
        ("opened:>30d", {"bob"}),
        ("NOT opened:<30d", {"bob", "cy", "di", "ed"}),
        ("replied:<90d", {"cy"}),
        ('field:city="New York"', {"ann"}),
        ("NOT field:city=Lyon", {"ann", "bob", "di", "ed"}),
        ("(tier:paid OR tag:sourdough) AND joined:<365d", {"bob", "di", "ed"}),
        ("tier:paid and not tag:sourdough or tier:free", {"di", "ed", "bob"}),
    ],
)
def test_terms_select_the_right_members(session, people, text, expected):
    assert emails(session, text) == {f"{name}@x.org" for name in expected}


def test_sends_never_reach_unconfirmed_unsubscribed_or_opted_out_members(session, people):
    assert emails(session, "all", recipients=True) == {"ann@x.org", "bob@x.org"}
    assert emails(session, "status:unsubscribed OR status:pending", recipients=True) == set()
    assert segments.count(session, "tier:paid", recipients=True) == 1


# Property test: the compiled SQL and a straightforward Python evaluation always agree.

DAYS = st.integers(min_value=0, max_value=800)
MEMBERS = st.lists(
    st.fixed_dictionaries(
        {
            "tier": st.sampled_from(TIERS),
            "status": st.sampled_from(STATUSES),
            "tags": st.sets(st.sampled_from(["a", "b", "c d"]), max_size=3),
            "joined": DAYS,
            "opened": st.none() | DAYS,
            "replied": st.none() | DAYS,
            "city": st.none() | st.sampled_from(["Oslo", "Lyon"]),
        }
    ),
    max_size=12,
)


def _terms():
    ages = st.sampled_from(["<", ">"]).flatmap(lambda op: DAYS.map(lambda n: f"{op}{n}d"))
    dates = st.tuples(st.sampled_from(["<", ">", "<=", ">=", "="]), DAYS).map(
        lambda pair: f"{pair[0]}{(NOW - timedelta(days=pair[1])).date().isoformat()}"
    )
    return st.one_of(
        st.just("all"),
        st.sampled_from(TIERS).map(lambda tier: f"tier:{tier}"),
        st.sampled_from(STATUSES).map(lambda status: f"status:{status}"),
        st.sampled_from(["a", "b", '"c d"', "zzz"]).map(lambda tag: f"tag:{tag}"),
        st.tuples(st.sampled_from(["joined", "opened", "replied"]), ages | dates).map(
            lambda t: f"{t[0]}:{t[1]}"
        ),
        st.sampled_from(["Oslo", "Lyon", "Rome"]).map(lambda city: f"field:city={city}"),
    )


EXPRESSIONS = st.recursive(
    _terms(),
    lambda inner: st.one_of(
        inner.map(lambda e: f"NOT {e}"),
        st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
    ),
    max_leaves=6,
)


def ago(days: int | None) -> datetime | None:
    return None if days is None else NOW - timedelta(days=days)


def evaluate(node, person: dict) -> bool:
    """The plain-Python meaning of a parsed expression for one member."""
    if isinstance(node, segments.And):
        return all(evaluate(operand, person) for operand in node.operands)
    if isinstance(node, segments.Or):
        return any(evaluate(operand, person) for operand in node.operands)
    if isinstance(node, segments.Not):
        return not evaluate(node.operand, person)
    term = node
    if term.key == "all":
        return True
    if term.key in ("tier", "status"):
        return person[term.key] == term.value
    if term.key == "tag":
        return term.value in person["tags"]
    if term.key == "field":
        return person["city"] == term.value
    days = person[term.key]
    if days is None:
        return False
    moment = NOW - timedelta(days=days)
    compare = {
        "day": lambda: term.at <= moment < term.at + timedelta(days=1),
        "==": lambda: moment == term.at,
        "<": lambda: moment < term.at,
        "<=": lambda: moment <= term.at,
        ">": lambda: moment > term.at,
        ">=": lambda: moment >= term.at,
    }
    return compare[term.op]()


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(population=MEMBERS, text=EXPRESSIONS)
def test_sql_agrees_with_python(session, population, text):
    node = segments.parse(text, now=NOW)
    savepoint = session.begin_nested()
    try:
        expected = set()
        for index, person in enumerate(population):
            email = f"p{index}@example.org"
            member(
                session, email, tier=person["tier"], status=person["status"],
                tags=sorted(person["tags"]), created_at=ago(person["joined"]),
                last_opened_at=ago(person["opened"]), last_replied_at=ago(person["replied"]),
                fields={} if person["city"] is None else {"city": person["city"]},
            )  # fmt: skip
            if evaluate(node, person):
                expected.add(email)
        assert emails(session, text) == expected, text
    finally:
        savepoint.rollback()
