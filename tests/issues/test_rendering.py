"""The markdown renderer: CommonMark plus extras, and nothing unsafe ever gets through."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.issues.rendering import markdown_to_html, render_body


def test_commonmark_with_tables_footnotes_strikethrough_and_code():
    html = markdown_to_html(
        "## Proof times\n\n| a | b |\n|--:|:-:|\n| 1 | 2 |\n\n~~gone~~ and a note[^1]\n\n"
        "```python\nprint('hi')\n```\n\n> quoted\n\n[^1]: the note\n"
    )
    assert '<h2 id="proof-times">' in html and 'href="#proof-times"' in html
    assert "<table>" in html and 'class="align-right"' in html and 'class="align-center"' in html
    assert "style=" not in html  # the site CSP forbids inline styles
    assert "<s>gone</s>" in html
    assert 'class="footnote-ref"' in html and "the note" in html
    assert '<code class="language-python">' in html
    assert "<blockquote>" in html


def test_repeated_headings_get_distinct_anchors_as_the_anchors_plugin_numbers_them():
    html = markdown_to_html(
        "## Notes\n\n## Notes\n\n## Notes-1\n\n### Notes\n\n##### Notes\n\n## `x`\n\n## x\n"
    )
    ids = re.findall(r'<h[2-4] id="([^"]*)">', html)
    assert ids == ["notes", "notes-1", "notes-1-1", "notes-2", "x", "x-1"]
    assert "<h5>Notes" in html  # only h2–h4 are anchored
    for anchor in ids:
        assert f'href="#{anchor}"' in html


def test_teaser_stops_at_the_more_marker_and_reading_time_counts_words():
    body = render_body("Opening words.\n\n<!-- more -->\n\n" + "word " * 700)
    assert body.has_more_marker
    assert "Opening words." in body.teaser_html and "word word" not in body.teaser_html
    assert "word word" in body.html and "more" not in body.html.replace("word", "")
    assert body.word_count == 702
    assert body.reading_minutes == 4


def test_without_marker_there_is_no_teaser():
    body = render_body("Just one paragraph.")
    assert not body.has_more_marker and body.teaser_html == "" and body.reading_minutes == 1


HOSTILE = [
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "<javascript:alert(1)>",
    "![x](javascript:alert(1))",
    '<img src=x onerror="alert(1)">',
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="https://ok" onclick="alert(1)">x</a>',
    "<iframe src=https://evil></iframe>",
    "[x](vbscript:msgbox(1))",
    '<svg onload="alert(1)">',
    "<style>body{display:none}</style>",
]


@pytest.mark.parametrize("markdown", HOSTILE)
def test_hostile_markdown_is_neutralised(markdown):
    assert_safe(markdown_to_html(markdown))


ALLOWED_SCHEMES = ("http://", "https://", "mailto:", "#", "/")


class _SafetyCheck(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in {"script", "style", "iframe", "object", "embed", "svg", "form", "input"}:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.problems.append(f"{tag}[{name}]")
            relative = not value or ":" not in (value or "").split("/", 1)[0]
            if (
                name in {"href", "src"}
                and not relative
                and not value.lower().startswith(ALLOWED_SCHEMES)
            ):
                self.problems.append(f"{tag}[{name}={value}]")


def assert_safe(html: str) -> None:
    checker = _SafetyCheck()
    checker.feed(html)
    assert checker.problems == [], html


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=40),
            st.sampled_from(
                HOSTILE + ["[", "](", ")", "<", ">", "`", "\n\n", "| a |\n|---|\n", "[^1]"]
            ),
        ),
        max_size=12,
    ).map("".join)
)
def test_any_markdown_renders_to_safe_html(markdown):
    assert_safe(markdown_to_html(markdown))
