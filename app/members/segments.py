"""Segment expressions: one syntax for the admin, the CLI and the API, compiled to one query.

    tier:paid AND (tag:sourdough OR tag:"rye club") AND NOT opened:>90d

Terms are ``all``, ``tier:free|paid|invite``, ``tag:NAME``, ``status:STATUS``,
``joined:<OP><DATE or Nd>``, ``opened:<OP><…>``, ``replied:<OP><…>``, ``field:NAME=VALUE`` and
``engaged:high|medium|low`` (the engagement level, app/insights/engagement.py; a member not
scored yet is ``low``),
joined by ``AND``, ``OR``, ``NOT`` and parentheses (NOT binds tightest, then AND, then OR).
A value with spaces is quoted. ``opened:<30d`` means "opened within the last 30 days" and
``opened:>90d`` "last opened more than 90 days ago"; ``NOT opened:<90d`` adds those who never
opened. A bare date covers its whole day: ``joined:>2026-01-31`` starts on February 1st.
Every term is NULL-safe, so ``NOT t`` is exactly the members ``t`` does not match.
An unknown term or bad syntax raises SegmentError with its position, never "everyone".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select, true
from sqlalchemy.orm import Session

from app.db import utcnow
from app.insights.models import ENGAGEMENT_LEVELS, MemberEngagement
from app.members.models import STATUSES, TIERS, Member, Tag, member_tags

TERM_HELP = "all, tier:, tag:, status:, joined:, opened:, replied:, engaged:, field:NAME=VALUE"
TERMS = ("tier", "tag", "status", "joined", "opened", "replied", "engaged", "field")
CHOICES = {"tier": TIERS, "status": STATUSES, "engaged": ENGAGEMENT_LEVELS}
_TOKEN = re.compile(r'\s*(?:(?P<paren>[()])|(?P<word>(?:[^\s()"]|"[^"]*")+)|(?P<bad>"))')
_COMPARISON = re.compile(r"^(<=|>=|<|>|=)?(.+)$", re.DOTALL)  # a quoted value may hold a newline
_RELATIVE = re.compile(r"^(\d+)d$")
# NUL and lone surrogates (JSON can carry both) match no stored text, and PostgreSQL or the
# UTF-8 encoder refuse them outright.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


class SegmentError(ValueError):
    """A segment expression that cannot be used; ``position`` is the 0-based offset."""

    def __init__(self, message: str, position: int):
        super().__init__(f"{message} (at position {position + 1})")
        self.message = message
        self.position = position


# The parsed form: plain tuples, so tests can build and compare them.
@dataclass(frozen=True)
class Term:
    key: str  # "all", or one of TERMS
    op: str = "="
    value: str = ""
    name: str = ""  # the field name for field:NAME=VALUE
    at: datetime | None = None  # the resolved moment for date terms


@dataclass(frozen=True)
class Not:
    operand: object


@dataclass(frozen=True)
class And:
    operands: tuple


@dataclass(frozen=True)
class Or:
    operands: tuple


def _tokens(text: str) -> list[tuple[str, int]]:
    unstorable = _UNSTORABLE.search(text)
    if unstorable:
        raise SegmentError("unexpected character", unstorable.start())
    tokens, position = [], 0
    while position < len(text):
        if not text[position:].strip():
            break  # only whitespace is left
        match = _TOKEN.match(text, position)
        if match is None:
            raise SegmentError("unexpected character", position)
        if match.group("bad"):
            raise SegmentError("unclosed quote", match.start("bad"))
        kind = "paren" if match.group("paren") else "word"
        if match.group(kind):
            tokens.append((match.group(kind), match.start(kind)))
        position = match.end()
    return tokens


MAX_DEPTH = 50  # nested parentheses and NOTs; deeper is a mistake, and would exhaust the stack


class _Parser:
    def __init__(self, text: str, now: datetime):
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0
        self.now = now
        self.depth = 0

    def _deeper(self, position: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SegmentError(f"more than {MAX_DEPTH} nested parentheses or NOTs", position)

    def _peek(self) -> tuple[str, int] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token[0].upper() == word:
            self.index += 1
            return True
        return False

    def parse(self):
        if not self.tokens:
            raise SegmentError("the expression is empty; use 'all' for everyone", 0)
        node = self._or()
        token = self._peek()
        if token is not None:
            raise SegmentError(f"expected AND, OR or the end, found '{token[0]}'", token[1])
        return node

    def _or(self):
        operands = [self._and()]
        while self._keyword("OR"):
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _and(self):
        operands = [self._not()]
        while self._keyword("AND"):
            operands.append(self._not())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _not(self):
        token = self._peek()
        if self._keyword("NOT"):
            self._deeper(token[1])
            node = Not(self._not())
            self.depth -= 1
            return node
        return self._atom()

    def _atom(self):
        token = self._peek()
        if token is None:
            raise SegmentError("the expression ends where a term was expected", len(self.text))
        word, position = token
        self.index += 1
        if word == "(":
            self._deeper(position)
            node = self._or()
            self.depth -= 1
            closing = self._peek()
            if closing is None or closing[0] != ")":
                raise SegmentError("missing ')'", closing[1] if closing else len(self.text))
            self.index += 1
            return node
        if word == ")" or word.upper() in ("AND", "OR", "NOT"):
            raise SegmentError(f"expected a term, found '{word}'", position)
        return _term(word, position, self.now)


def _unquote(value: str) -> str:
    return value.replace('"', "")


def _term(word: str, position: int, now: datetime) -> Term | Or:
    if word.lower() == "all":
        return Term("all")
    key, colon, value = word.partition(":")
    key = key.lower()
    value = _unquote(value)
    if not colon or key not in TERMS:
        raise SegmentError(f"unknown term '{word}'; use one of: {TERM_HELP}", position)
    if not value:
        raise SegmentError(f"'{key}:' needs a value", position)
    if key in CHOICES:
        allowed = CHOICES[key]
        choices = value.lower().split("|")
        for choice in choices:
            if choice not in allowed:
                what = "engagement level" if key == "engaged" else key
                raise SegmentError(
                    f"unknown {what} '{choice}'; use one of: {', '.join(allowed)}", position
                )
        terms = tuple(Term(key, "=", choice) for choice in choices)
        return terms[0] if len(terms) == 1 else Or(terms)
    if key == "tag":
        return Term("tag", "=", value)
    if key == "field":
        name, equals, field_value = value.partition("=")
        if not equals or not name:
            raise SegmentError("write field:NAME=VALUE", position)
        return Term("field", "=", field_value, name=name)
    return _time_term(key, value, position, now)


MAX_AGE_DAYS = 100 * 366


def _time_term(key: str, value: str, position: int, now: datetime) -> Term:
    """``joined:>2026-01-01``, ``opened:<30d``: a comparison with a date or an age in days."""
    try:
        return _time_comparison(key, value, position, now)
    except SegmentError:
        raise
    except (OverflowError, ValueError):
        raise SegmentError(f"'{value}' is out of range for {key}:", position) from None


def _time_comparison(key: str, value: str, position: int, now: datetime) -> Term:
    op, operand = _COMPARISON.match(value).groups()
    op = op or "="
    relative = _RELATIVE.match(operand)
    if relative:
        # An age: "<30d" is "less than 30 days ago", i.e. after that moment.
        if int(relative.group(1)) > MAX_AGE_DAYS:
            raise SegmentError(
                f"an age of more than {MAX_AGE_DAYS} days is not a useful {key}:", position
            )
        moment = now - timedelta(days=int(relative.group(1)))
        flipped = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "="}[op]
        if op == "=":
            raise SegmentError(f"use < or > with an age, as in {key}:<30d", position)
        return Term(key, flipped, operand, at=moment)
    try:
        moment = datetime.fromisoformat(operand)
    except ValueError:
        raise SegmentError(
            f"'{operand}' is neither a date (2026-01-31) nor an age (30d)", position
        ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if not 1900 <= moment.year <= 9000:
        raise SegmentError(f"'{operand}' is out of range for {key}:", position)
    if len(operand) == 10:  # a bare date stands for its whole day
        next_day = moment + timedelta(days=1)
        if op == "=":
            return Term(key, "day", operand, at=moment)
        op, moment = {">": (">=", next_day), "<=": ("<", next_day)}.get(op, (op, moment))
    elif op == "=":
        op = "=="
    return Term(key, op, operand, at=moment)


def parse(text: str, *, now: datetime | None = None):
    """The parsed expression, or SegmentError with the position of the first problem."""
    return _Parser(text or "", now or utcnow()).parse()


_TIME_COLUMNS = {
    "joined": Member.created_at,
    "opened": Member.last_opened_at,
    "replied": Member.last_replied_at,
}


def _compile(node) -> ColumnElement[bool]:
    if isinstance(node, And):
        return and_(*(_compile(operand) for operand in node.operands))
    if isinstance(node, Or):
        return or_(*(_compile(operand) for operand in node.operands))
    if isinstance(node, Not):
        return not_(_compile(node.operand))
    return _compile_term(node)


def _compile_term(term: Term) -> ColumnElement[bool]:
    if term.key == "all":
        return true()
    if term.key == "tier":
        return Member.tier == term.value
    if term.key == "status":
        return Member.status == term.value
    if term.key == "engaged":
        return _engaged(term.value)
    if term.key == "tag":
        return exists(
            select(member_tags.c.member_id)
            .join(Tag, Tag.id == member_tags.c.tag_id)
            .where(member_tags.c.member_id == Member.id, Tag.name == term.value)
        )
    if term.key == "field":
        value = Member.fields[term.name].as_string()
        return and_(value.is_not(None), value == term.value)
    column, at = _TIME_COLUMNS[term.key], term.at
    comparisons = {
        "day": lambda: and_(column >= at, column < at + timedelta(days=1)),
        "==": lambda: column == at,
        "<": lambda: column < at,
        "<=": lambda: column <= at,
        ">": lambda: column > at,
        ">=": lambda: column >= at,
    }
    return and_(column.is_not(None), comparisons[term.op]())


def _engaged(level: str) -> ColumnElement[bool]:
    """A member with no score yet (joined since the last run) is ``low``, so that
    ``engaged:low`` and ``NOT engaged:low`` split everyone exactly."""
    scored = MemberEngagement.member_id == Member.id
    if level == "low":
        return not_(exists().where(scored, MemberEngagement.level != "low"))
    return exists().where(scored, MemberEngagement.level == level)


def where(text: str, *, now: datetime | None = None) -> ColumnElement[bool]:
    """The SQL condition for a segment expression."""
    return _compile(parse(text, now=now))


def recipients_condition(text: str, *, now: datetime | None = None) -> ColumnElement[bool]:
    """Who a send to this expression reaches: never anyone who must not get bulk mail."""
    return and_(where(text, now=now), Member.status == "active", Member.email_issues.is_(True))


def count(session: Session, text: str, *, recipients: bool = False) -> int:
    """How many members an expression matches (or, with ``recipients``, a send would reach)."""
    condition = recipients_condition(text) if recipients else where(text)
    return session.scalar(select(func.count()).select_from(Member).where(condition)) or 0
