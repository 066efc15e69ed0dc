"""Email templates: ``emails/NAME.mjml`` (HTML) beside ``emails/NAME.txt`` (plain text).

MJML is compiled once at start-up (mjml-python/MRML) and the result kept as a Jinja template,
so a send only fills in values. MRML's own errors carry no position, so the structure is
checked first: a broken template stops start-up naming the file and the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import jinja2
from mjml import mjml2html

MJML_TAGS = {
    "mjml", "mj-head", "mj-body", "mj-attributes", "mj-all", "mj-class", "mj-breakpoint",
    "mj-font", "mj-preview", "mj-style", "mj-title", "mj-section", "mj-column", "mj-group",
    "mj-text", "mj-button", "mj-image", "mj-divider", "mj-spacer", "mj-table", "mj-raw",
    "mj-hero", "mj-wrapper", "mj-navbar", "mj-navbar-link", "mj-social", "mj-social-element",
}  # fmt: skip
# MJML copies a component's vertical-align onto its wrapping <td> as an attribute: HTML has no
# such attribute (no client applies it), and the Nu checker rejects the document for it.
_TD_VERTICAL_ALIGN = re.compile(r'(<td\b[^>]*?) vertical-align="[a-z]+"')
# Inside these, content is HTML (or CSS) that MJML passes through untouched.
_RAW_CONTENT = {"mj-text", "mj-button", "mj-table", "mj-raw", "mj-style", "mj-title", "mj-preview"}


class EmailTemplateError(Exception):
    """A template that cannot be used; the message starts with ``file:line:``."""


@dataclass(frozen=True)
class RenderedEmail:
    html: str
    text: str


class _MJMLStructure(HTMLParser):
    """Finds the first misplaced, unknown or unclosed MJML tag and its line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[tuple[str, int]] = []
        self.problem: tuple[int, str] | None = None

    def _inside_raw(self) -> bool:
        return bool(self.stack) and self.stack[-1][0] in _RAW_CONTENT

    def handle_starttag(self, tag: str, attrs) -> None:
        if self.problem or not tag.startswith("mj"):
            return
        line = self.getpos()[0]
        if tag not in MJML_TAGS:
            self.problem = (line, f"unknown MJML element <{tag}>")
        elif self._inside_raw():
            self.problem = (line, f"<{tag}> cannot sit inside <{self.stack[-1][0]}>")
        else:
            self.stack.append((tag, line))

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag.startswith("mj") and not self.problem:
            self.handle_starttag(tag, attrs)
            if self.stack and self.stack[-1][0] == tag:
                self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if self.problem or not tag.startswith("mj"):
            return
        line = self.getpos()[0]
        if not self.stack or self.stack[-1][0] != tag:
            expected = (
                f"</{self.stack[-1][0]}> (opened on line {self.stack[-1][1]})"
                if self.stack
                else "nothing"
            )
            self.problem = (line, f"</{tag}> found where {expected} was expected")
        else:
            self.stack.pop()

    def check(self, source: str) -> tuple[int, str] | None:
        self.feed(source)
        self.close()
        if self.problem:
            return self.problem
        if self.stack:
            tag, line = self.stack[-1]
            return line, f"<{tag}> is never closed"
        return None


class EmailTemplates:
    """All compiled templates of one ``emails/`` directory."""

    def __init__(self, html: dict[str, jinja2.Template], text: dict[str, jinja2.Template]):
        self._html = html
        self._text = text

    @classmethod
    def load(cls, directory: Path) -> EmailTemplates:
        html_env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
        text_env = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined)
        html: dict[str, jinja2.Template] = {}
        text: dict[str, jinja2.Template] = {}
        for path in sorted(directory.glob("*.mjml")):
            html[path.stem] = html_env.from_string(compile_mjml(path, html_env))
            text_path = path.with_suffix(".txt")
            if not text_path.exists():
                raise EmailTemplateError(
                    f"{path}:1: no plain-text version {text_path.name} beside it"
                )
            text[path.stem] = _jinja(text_env, text_path, text_path.read_text(encoding="utf-8"))
        return cls(html, text)

    def names(self) -> list[str]:
        return sorted(self._html)

    def render(self, template: str, /, **context: object) -> RenderedEmail:
        return RenderedEmail(
            html=self._html[template].render(**context), text=self._text[template].render(**context)
        )


def compile_mjml(path: Path, env: jinja2.Environment) -> str:
    """MJML source → HTML, or an EmailTemplateError with ``path:line``."""
    source = path.read_text(encoding="utf-8")
    problem = _MJMLStructure().check(source)
    if problem:
        raise EmailTemplateError(f"{path}:{problem[0]}: {problem[1]}")
    _jinja(env, path, source)  # Jinja syntax, reported against the MJML line
    try:
        compiled = mjml2html(source)
    except ValueError as error:
        raise EmailTemplateError(f"{path}:1: MJML could not compile it: {error}") from error
    return _TD_VERTICAL_ALIGN.sub(r"\1", compiled)


def _jinja(env: jinja2.Environment, path: Path, source: str) -> jinja2.Template:
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as error:
        raise EmailTemplateError(f"{path}:{error.lineno}: {error.message}") from error
