"""Markdown to safe HTML: the one renderer for everything user-written.

markdown-it-py runs with raw HTML off (so ``<script>`` arrives as text), its link validator
drops ``javascript:`` and friends, and nh3 then allows only the tags and attributes this
renderer itself produces. Rendering happens when content is saved, never inside a request.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.anchors.index import slugify
from mdit_py_plugins.footnote import footnote_plugin

MORE_MARKER = re.compile(r"^[ \t]*<!--\s*more\s*-->[ \t]*$", re.MULTILINE | re.IGNORECASE)
WORDS_PER_MINUTE = 230
_WORD = re.compile(r"[\w'’-]+")

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "section", "strong", "sub", "sup",
    "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "id", "class"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "h2": {"id"}, "h3": {"id"}, "h4": {"id"},
    "li": {"id", "class"}, "ol": {"class", "start"}, "section": {"class"}, "hr": {"class"},
    "sup": {"class"}, "td": {"style", "class"}, "th": {"style", "class"},  # text-align only
}  # fmt: skip


@dataclass(frozen=True)
class RenderedBody:
    html: str
    teaser_html: str
    has_more_marker: bool
    word_count: int
    reading_minutes: int


ANCHORED_LEVELS = range(2, 5)  # h2–h4 get ids and permalinks
ANCHORED_HEADINGS = {f"h{level}" for level in ANCHORED_LEVELS}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    parser = (
        MarkdownIt("commonmark", {"html": False, "typographer": True, "linkify": False})
        .enable(["table", "strikethrough", "replacements", "smartquotes"])
        .use(footnote_plugin)
        .use(
            anchors_plugin,
            min_level=ANCHORED_LEVELS[0],
            max_level=ANCHORED_LEVELS[-1],
            permalink=True,
            permalinkSymbol="#",
        )
    )
    parser.core.ruler.before("anchor", "heading_ids", _unique_heading_ids)
    return parser


def _unique_heading_ids(state: StateCore) -> None:
    """Give each h2–h4 the id the anchors plugin would (``notes``, ``notes-1``, …) before it
    runs, so it only adds the permalinks. Its own de-duplication counts up from 1 again for
    every repeated title: quadratic, 5 s of CPU for 9,000 identical headings. One counter per
    title makes it linear."""
    tokens = state.tokens
    taken = {
        str(token.attrGet("id"))
        for token in tokens
        if token.type == "heading_open" and token.attrGet("id")
    }
    next_suffix: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if token.type != "heading_open" or token.tag not in ANCHORED_HEADINGS:
            continue
        if token.attrGet("id"):  # an explicit id is kept as it is, as the plugin does
            continue
        title = "".join(
            child.content
            for child in tokens[index + 1].children or []
            if child.type in ("text", "code_inline")
        )
        slug = base = slugify(title)
        suffix = next_suffix.get(base, 1)
        while slug in taken:
            slug = f"{base}-{suffix}"
            suffix += 1
        next_suffix[base] = suffix
        taken.add(slug)
        token.attrSet("id", slug)


def sanitize(html: str) -> str:
    """Allow only what the markdown renderer emits; strip everything else."""
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        filter_style_properties={"text-align"},
        link_rel="noopener noreferrer",
    )


_ALIGN_STYLE = re.compile(r' style="text-align:\s*(left|right|center);?"')


def markdown_to_html(markdown: str) -> str:
    """Render one markdown document to sanitized HTML.

    Table alignment arrives as inline ``style``, which the site's CSP forbids; it becomes a class.
    """
    return _ALIGN_STYLE.sub(r' class="align-\1"', sanitize(_parser().render(markdown)))


def render_body(markdown: str) -> RenderedBody:
    """Render an issue body: the full HTML, the teaser before ``<!-- more -->``, reading time."""
    parts = MORE_MARKER.split(markdown, maxsplit=1)
    full_source = "\n\n".join(part.strip("\n") for part in parts)
    html = markdown_to_html(full_source)
    teaser_html = markdown_to_html(parts[0]) if len(parts) > 1 else ""
    words = len(_WORD.findall(full_source))
    return RenderedBody(
        html=html,
        teaser_html=teaser_html,
        has_more_marker=len(parts) > 1,
        word_count=words,
        reading_minutes=max(1, math.ceil(words / WORDS_PER_MINUTE)),
    )
