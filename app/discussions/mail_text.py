"""A mailed reply as plain text: its text/plain part, else its HTML part made into text.

Mail clients write the same reply many ways: quoted-printable or base64, any charset
(iso-8859-1, windows-1252, iso-2022-jp, koi8-r…), ``format=flowed`` (RFC 3676) soft line
breaks, or HTML only (Outlook). The stdlib ``email`` package undoes the transfer encoding;
HTML goes through nh3 first (a real HTML5 parser that drops scripts, styles and every tag
but a few structural ones), then a small walker turns what is left into lines of text, with
blockquotes as ``> `` lines so the quote stripping treats them like quoted text. No HTML
survives: the result is text, later rendered as markdown with raw HTML off.
"""

from __future__ import annotations

import re
from email.message import EmailMessage, Message
from html.parser import HTMLParser

import nh3

# Tags whose structure becomes line breaks; every other tag is dropped, its text kept.
STRUCTURE = {
    "a", "blockquote", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "ol",
    "p", "pre", "table", "td", "th", "tr", "ul",
}  # fmt: skip
DROPPED_WITH_CONTENT = {"script", "style", "title", "head", "template", "noscript"}
BLOCKS = {"div", "table", "tr", "ul", "ol", "li", "pre", "hr"}
PARAGRAPHS = {"p", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6"}
# Where clients put the quoted message or the signature in HTML: everything from there on
# is not the reply (Gmail, Thunderbird, Yahoo, Proton, Outlook on the web and desktop).
QUOTE_CLASSES = {
    "gmail_quote", "gmail_signature", "moz-cite-prefix", "moz-signature", "yahoo_quoted",
    "protonmail_quote", "zmail_extra", "outlookmessageheader",
}  # fmt: skip
QUOTE_IDS = {
    "divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container",
    "ms-outlook-mobile-signature", "applemailsignature", "signature",
}  # fmt: skip
LINK_SCHEMES = ("http://", "https://", "mailto:")
FALLBACK_CHARSETS = ("utf-8", "windows-1252")


def body_text(message: EmailMessage) -> str:
    """The reply's own text part as a string ("" when it has none): text/plain preferred."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = _decoded(part)
    if part.get_content_subtype() == "html":
        return html_to_text(text)
    if str(part.get_param("format") or "").lower() == "flowed":
        return unflow(text, delsp=str(part.get_param("delsp") or "").lower() == "yes")
    return text


def attachment_count(message: Message) -> int:
    return sum(1 for part in message.walk() if part.is_attachment())


def _decoded(part: Message) -> str:
    """The part's text: transfer encoding undone by the stdlib, then its declared charset;
    a missing, unknown or wrong charset falls back to UTF-8, then Windows-1252 (what
    unlabelled 8-bit mail nearly always is), and never fails."""
    data = part.get_payload(decode=True) or b""
    for charset in (part.get_content_charset(), *FALLBACK_CHARSETS):
        if not charset:
            continue
        try:
            text = data.decode(charset)
        except (LookupError, UnicodeError, ValueError):  # ValueError: a NUL in the name
            continue
        break
    else:
        text = data.decode("utf-8", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def unflow(text: str, *, delsp: bool = False) -> str:
    """RFC 3676: a line ending in a space continues on the next line of the same quote
    depth; a leading space was added for transport (space-stuffing). ``-- `` stays a line."""
    lines: list[tuple[int, str, bool]] = []  # (quote depth, text, continues)
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        content = content[1:] if content.startswith(" ") else content
        continues = content.endswith(" ") and content != "-- "
        if continues and delsp:
            content = content[:-1]
        if lines and lines[-1][2] and lines[-1][0] == depth:
            lines[-1] = (depth, lines[-1][1] + content, continues)
        else:
            lines.append((depth, content, continues))
    return "\n".join(("> " * depth if depth else "") + content for depth, content, _ in lines)


def html_to_text(html: str) -> str:
    """HTML as lines of plain text; quoted blocks become ``> `` lines, links ``[text](<url>)``."""
    clean = nh3.clean(
        html,
        tags=STRUCTURE,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes={"*": {"class", "id"}, "a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        link_rel=None,
    )
    writer = _TextWriter()
    writer.feed(clean)
    writer.close()
    return writer.text()


class _TextWriter(HTMLParser):
    """Walks nh3's (well-formed, allow-listed) output and writes lines of text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line = ""
        self.line_depth = 0
        self.depth = 0  # blockquotes open
        self.pre = 0
        self.stopped = False
        self.link: tuple[str, int] | None = None  # (href, where its text starts in the line)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.stopped:
            return
        values = dict(attrs)
        classes = set((values.get("class") or "").lower().split())
        if classes & QUOTE_CLASSES or (values.get("id") or "").lower() in QUOTE_IDS:
            self.stopped = True  # the rest is the quoted message or a signature
            return
        if tag == "br":
            self._end_line(keep_empty=True)
        elif tag in BLOCKS or tag in PARAGRAPHS:
            self._end_line(blank=tag in PARAGRAPHS)
        if tag == "blockquote":
            self.depth += 1
        elif tag == "pre":
            self.pre += 1
        elif tag == "li":
            self.line = "- "
            self.line_depth = self.depth
        elif tag in ("td", "th") and self.line.strip():
            self.line += " "
        elif tag == "a":
            self.link = (values.get("href") or "", len(self.line))

    def handle_endtag(self, tag: str) -> None:
        if self.stopped:
            return
        if tag == "a" and self.link is not None:
            self._close_link()
        elif tag in BLOCKS or tag in PARAGRAPHS:
            self._end_line(blank=tag in PARAGRAPHS)
        if tag == "blockquote":
            self.depth = max(0, self.depth - 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.stopped:
            return
        if self.pre:
            head, *rest = data.split("\n")
            self._write(head)
            for line in rest:
                self._end_line(keep_empty=True)
                self._write(line)
            return
        text = re.sub(r"\s+", " ", data)
        if not self.line.strip():
            text = text.lstrip()
        self._write(text)

    def _write(self, text: str) -> None:
        if text and not self.line:
            self.line_depth = self.depth
        self.line += text

    def _close_link(self) -> None:
        href, start = self.link
        self.link = None
        label = self.line[start:].strip()
        if not href.lower().startswith(LINK_SCHEMES) or not label:
            return
        target = href.removeprefix("mailto:")
        if label in (href, target) or re.search(r"[<>\s]", href):
            return  # the address is the text already, or cannot sit in <…> (CommonMark)
        label = label.replace("[", "\\[").replace("]", "\\]")
        self.line = f"{self.line[:start]}[{label}](<{href}>)"

    def _end_line(self, *, blank: bool = False, keep_empty: bool = False) -> None:
        if self.line.strip() or keep_empty:
            prefix = "> " * self.line_depth
            self.lines.append((prefix + self.line.rstrip()).rstrip())
        self.line = ""
        self.line_depth = self.depth
        if blank and self.lines and self.lines[-1].strip("> "):
            self.lines.append(("> " * self.depth).rstrip())

    def text(self) -> str:
        self._end_line()
        while self.lines and not self.lines[-1].strip("> "):
            self.lines.pop()
        return "\n".join(self.lines)
