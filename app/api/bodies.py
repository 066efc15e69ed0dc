"""Reading the API's JSON bodies: every field checked for type, length and characters no
database stores (NUL, lone surrogates), all problems reported at once as ``fields``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from flask import request

from app.api.errors import ApiError

MAX_TEXT = 2_000


def json_object(*, optional: bool = False) -> dict[str, Any]:
    """The request's body as a JSON object; an empty body is ``{}`` where ``optional``."""
    raw = request.get_data(cache=True)
    if not raw and optional:
        return {}
    if request.mimetype != "application/json":
        raise ApiError(415)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise ApiError(400, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(422, "The body must be a JSON object.")
    return data


def usable_text(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None: databases refuse NUL and lone surrogates."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text"
    return None


class Body:
    """The fields of one JSON object, read one by one; ``done()`` raises every problem found.

    A field that is absent reads as None, so callers change only what was sent (PATCH).
    """

    def __init__(self, data: dict[str, Any], allowed: Iterable[str]):
        self.data = data
        self.errors: dict[str, str] = {
            name: "is not a field of this request" for name in data if name not in allowed
        }

    def _fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def text(self, name: str, *, max_length: int = MAX_TEXT, required: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required or name in self.data:
                self._fail(name, "is required" if required else "must be a string")
            return None
        if not isinstance(value, str):
            self._fail(name, "must be a string")
            return None
        if (problem := usable_text(value)) or len(value) > max_length:
            self._fail(name, problem or f"must be at most {max_length:,} characters")
            return None
        if required and not value.strip():
            self._fail(name, "must not be empty")
            return None
        return value

    def choice(self, name: str, choices: Iterable[str]) -> str | None:
        choices = tuple(choices)
        value = self.text(name, max_length=100)
        if value is not None and value not in choices:
            self._fail(name, f"must be one of: {', '.join(choices)}")
            return None
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.data.get(name)
        if name in self.data and not isinstance(value, bool):
            self._fail(name, "must be true or false")
            return None
        return value

    def integer(self, name: str) -> int | None:
        value = self.data.get(name)
        if name in self.data and (isinstance(value, bool) or not isinstance(value, int)):
            self._fail(name, "must be an integer")
            return None
        return value

    def texts(self, name: str, *, max_items: int, max_length: int) -> list[str] | None:
        value = self.data.get(name)
        if value is None:
            if name in self.data:
                self._fail(name, "must be a list of strings")
            return None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self._fail(name, "must be a list of strings")
            return None
        if len(value) > max_items:
            self._fail(name, f"must have at most {max_items} items")
            return None
        for item in value:
            if (problem := usable_text(item)) or len(item) > max_length:
                self._fail(name, problem or f"items must be at most {max_length} characters")
                return None
        return value

    def text_map(
        self, name: str, *, max_items: int, max_length: int, nullable: bool = False
    ) -> dict[str, str | None] | None:
        """An object of short strings (custom fields); ``nullable`` lets a value be null."""
        value = self.data.get(name)
        if value is None:
            if name in self.data:
                self._fail(name, "must be an object")
            return None
        if not isinstance(value, dict) or len(value) > max_items:
            self._fail(name, f"must be an object of at most {max_items} entries")
            return None
        for key, item in value.items():
            if item is None and nullable:
                continue
            if not isinstance(item, str):
                self._fail(name, f"'{key[:100]}' must be a string")
                return None
            for text in (key, item):
                if (problem := usable_text(text)) or len(text) > max_length or not key.strip():
                    self._fail(name, problem or f"names and values need 1 to {max_length} chars")
                    return None
        return value

    def done(self) -> None:
        if self.errors:
            raise ApiError(422, "Some fields are not valid.", fields=self.errors)
