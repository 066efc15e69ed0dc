"""Segment expressions: any string either parses or raises SegmentError with a position;
generated valid expressions compile to SQL that runs on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import func, select

from app.insights.models import ENGAGEMENT_LEVELS
from app.members import segments
from app.members.models import STATUSES, TIERS, Member
from tests.conftest import make_member
from tests.fuzz.conftest import examples

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
SYNTAX = ["(", ")", " AND ", " OR ", "NOT ", '"', ":", "|", "<", ">", "=", "all", "tier:",
    "tag:", "field:", "joined:", "opened:<", "replied:>", "engaged:", "30d", "2026-01-31",
    "\n", "\x00", "\t"]  # fmt: skip
HOSTILE = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(SYNTAX)), max_size=20).map(
    "".join
)


def check_refusal(text: str) -> None:
    try:
        segments.parse(text, now=NOW)
    except segments.SegmentError as error:
        assert 0 <= error.position <= len(text), (text, error.position)
        assert str(error.position + 1) in str(error)


@examples(300)
@given(HOSTILE)
def test_random_text_parses_or_says_where_it_is_wrong(text):
    check_refusal(text)


@examples(100)
@given(st.text())
def test_any_unicode_parses_or_says_where_it_is_wrong(text):
    check_refusal(text)


def test_deep_nesting_is_refused_with_a_position_not_a_crash():
    """Was a RecursionError: each "(" and NOT recursed without a limit."""
    for text in ("(" * 5000 + "all" + ")" * 5000, "NOT " * 5000 + "all"):
        with pytest.raises(segments.SegmentError, match="nested"):
            segments.parse(text, now=NOW)
    assert segments.parse("(" * segments.MAX_DEPTH + "all" + ")" * segments.MAX_DEPTH)


def test_a_quoted_newline_in_a_date_is_refused_not_a_crash():
    """Was an AttributeError: the comparison pattern did not match across a newline."""
    with pytest.raises(segments.SegmentError, match="neither a date") as error:
        segments.parse('tag:x AND joined:"\n"', now=NOW)
    assert error.value.position == 10


@pytest.mark.parametrize("text", ['tag:"a\x00b"', 'all OR field:x="\ud800"'])
def test_unstorable_characters_are_refused_where_they_are(text):
    """Were a DataError (PostgreSQL: NUL) and a UnicodeEncodeError (lone surrogate, which JSON
    can carry) from the database driver."""
    with pytest.raises(segments.SegmentError, match="unexpected character") as error:
        segments.parse(text, now=NOW)
    assert text[error.value.position] in "\x00\ud800"


@examples(100)
@given(HOSTILE)
@example('tag:"a\x00b" OR field:"c\x00=d\x00"')
@example('tag:"\ud800" OR field:x="\U0010ffff"')
def test_whatever_parses_also_runs(session, text):
    """NULs, quotes and odd unicode in tag and field values reach the database safely."""
    try:
        condition = segments.where(text, now=NOW)
    except segments.SegmentError:
        return
    session.scalar(select(func.count()).select_from(Member).where(condition))


VALUE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters='"\x00'),
    min_size=1,
    max_size=12,
).map(lambda value: f'"{value}"')
DATE = st.dates(min_value=datetime(1901, 1, 1).date(), max_value=datetime(8999, 1, 1).date())
TERM = st.one_of(
    st.just("all"),
    st.lists(st.sampled_from(TIERS), min_size=1, max_size=3, unique=True).map(
        lambda tiers: "tier:" + "|".join(tiers)
    ),
    st.sampled_from(STATUSES).map("status:{}".format),
    st.sampled_from(ENGAGEMENT_LEVELS).map("engaged:{}".format),
    VALUE.map("tag:{}".format),
    st.tuples(VALUE, VALUE).map(lambda pair: f"field:{pair[0][:-1]}={pair[1][1:]}"),
    st.tuples(
        st.sampled_from(["joined", "opened", "replied"]),
        st.sampled_from(["<", ">", "<=", ">="]),
        st.one_of(st.integers(0, segments.MAX_AGE_DAYS).map("{}d".format), DATE.map(str)),
    ).map("{0[0]}:{0[1]}{0[2]}".format),
)
EXPRESSION = st.recursive(
    TERM,
    lambda inner: st.one_of(
        inner.map("NOT {}".format),
        inner.map("({})".format),
        st.tuples(inner, st.sampled_from([" AND ", " OR ", " and ", " or "]), inner).map("".join),
    ),
    max_leaves=8,
)


@examples(60)
@given(EXPRESSION)
def test_valid_expressions_compile_and_run(session, expression):
    """The query runs on this backend, and NOT splits the members exactly."""
    if session.scalar(select(func.count()).select_from(Member)) == 0:
        make_member(session, email="fuzz-a@example.com", fields={"city": "Oslo"})
        make_member(session, email="fuzz-b@example.com", tier="paid", status="unsubscribed")
    everyone = session.scalar(select(func.count()).select_from(Member))
    matched = session.scalar(
        select(func.count()).select_from(Member).where(segments.where(expression, now=NOW))
    )
    unmatched = session.scalar(
        select(func.count())
        .select_from(Member)
        .where(segments.where(f"NOT ({expression})", now=NOW))
    )
    assert matched + unmatched == everyone
    assert segments.count(session, expression, recipients=True) <= matched
