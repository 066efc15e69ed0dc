"""What "safe HTML" means for every renderer: nothing that runs script, and already clean."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser

BAD_SCHEMES = ("javascript:", "vbscript:", "data:")
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "poster", "background"}
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed", "style", "form", "svg", "math"):
            self.problems.append(f"<{tag}> element")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{name}= handler on <{tag}>")
            if name in URL_ATTRIBUTES and value is not None:
                url = _INVISIBLE.sub("", html.unescape(value)).lower()
                if url.startswith(BAD_SCHEMES):
                    self.problems.append(f"{name}={value!r} on <{tag}>")


def assert_safe(output: str, clean: Callable[[str], str]) -> None:
    """No script-running markup in ``output``, and ``clean`` (the renderer's own nh3 call)
    leaves it unchanged: it is a fixed point of sanitizing."""
    assert "<script" not in output.lower()
    checker = _Checker()
    checker.feed(output)
    checker.close()
    assert not checker.problems, (checker.problems, output)
    assert clean(output) == output
