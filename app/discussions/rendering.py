"""Members' posts as HTML: markdown with raw HTML off, then nh3 with a small allow-list.

Posts come from anyone (and from email), so they get less than an issue does: no images (no
tracking pixels, no hot-linking), no headings (a post is not a document), links marked
``nofollow ugc`` so spam gains nothing from search engines.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

POST_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "em", "i", "li", "ol", "p", "pre", "s",
    "strong", "ul",
}  # fmt: skip
POST_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("strikethrough")


def render_post(markdown: str) -> str:
    return sanitize_post(_parser().render(markdown))


def sanitize_post(html: str) -> str:
    """The allow-list a post's HTML passes (applying it twice changes nothing)."""
    return nh3.clean(
        html,
        tags=POST_TAGS,
        attributes=POST_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow ugc noopener noreferrer",
    )
