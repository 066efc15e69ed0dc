"""Cursor pagination: ``?limit=`` (1..200, default 50) and an opaque ``cursor``.

A cursor is the sort key of the last item returned, signed (itsdangerous) so a client can
neither forge one nor carry one from one list to another. Lists are ordered by a key that
never changes (the id, or a post's time and id), so paging is stable: an item added while a
client pages appears once, at its place, and none is skipped or repeated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeSerializer

from app.api.errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
SALT = "kith.api.cursor"
T = TypeVar("T")
Key = tuple[int, ...]


@dataclass(frozen=True)
class Window:
    """What a list request asks for: how many items, after which key."""

    limit: int
    after: Key | None


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.extensions["kith.settings"].secret_key, salt=SALT)


def window(listing: str, key_length: int = 1) -> Window:
    """The request's ``limit`` and ``cursor`` for ``listing``; ApiError 400 when unusable."""
    raw_limit = request.args.get("limit", str(DEFAULT_LIMIT))
    if not (raw_limit.isascii() and raw_limit.isdigit()) or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise ApiError(
            400,
            f"limit must be a whole number from 1 to {MAX_LIMIT}.",
            fields={"limit": f"must be 1 to {MAX_LIMIT}"},
        )
    raw_cursor = request.args.get("cursor")
    if raw_cursor is None:
        return Window(int(raw_limit), None)
    try:
        payload = _serializer().loads(raw_cursor)
    except BadSignature:
        payload = None
    key = payload.get("k") if isinstance(payload, dict) and payload.get("l") == listing else None
    if (
        not isinstance(key, list)
        or len(key) != key_length
        or not all(isinstance(part, int) and not isinstance(part, bool) for part in key)
    ):
        raise ApiError(
            400,
            "cursor is not one this list gave out: start again without it.",
            fields={"cursor": "is not valid for this list"},
        )
    return Window(int(raw_limit), tuple(key))


def cursor(listing: str, key: Key) -> str:
    return _serializer().dumps({"l": listing, "k": list(key)})


@dataclass(frozen=True)
class Slice(Generic[T]):
    """One window of a list, and the key to continue after (None: the list ends here)."""

    items: list[T]
    next_after: Key | None


def cut(
    rows: Sequence[T],
    wanted: Window,
    key: Callable[[T], Key],
    keep: Callable[[T], bool] | None = None,
) -> Slice[T]:
    """The first ``limit`` of ``rows`` (fetched with one extra, to know whether more follow),
    less those ``keep`` refuses; the cursor still moves past those, so no page repeats."""
    shown = list(rows[: wanted.limit])
    after = key(shown[-1]) if len(rows) > wanted.limit and shown else None
    return Slice([row for row in shown if keep is None or keep(row)], after)
