"""The new words of a mailed reply: the quoted message and the signature cut away.

``email-reply-parser`` (GitHub's rules) knows ``> `` quotes, English ``On … wrote:`` lines
and ``--`` signatures. Clients write more than that, so first the text is cut at the first
line that starts a quoted message in any common client and language: Gmail's ``On <date>,
<name> <addr> wrote:`` (wrapped over two lines when long), Apple Mail's ``On <date>, at
<time>, <name> wrote:``, Thunderbird's ``On <date> <name> wrote:``, their German, French,
Spanish, Dutch, Italian, Portuguese and Swedish forms, Outlook's ``-----Original
Message-----`` line, its ``________________________________`` rule and its ``From: / Sent: /
To: / Subject:`` header block, and a mobile client's "Sent from my iPhone" line.
"""

from __future__ import annotations

import re

from email_reply_parser import EmailMessage as ParsedReply

# "On <date>, <name> wrote:" in the languages clients localize it into (one line, after two
# wrapped lines are joined). A line only counts when it also names a date or an address, or
# quoted lines follow it, so "On Monday I wrote:" in someone's own words stays.
QUOTE_HEADER = re.compile(
    r"^(?:On\s.+\swrote"
    r"|Am\s.+\sschrieb(?:\s.+)?"
    r"|Le\s.+\sa\s+écrit"
    r"|El\s.+\sescribió"
    r"|Op\s.+\sschreef(?:\s.+)?"
    r"|Il\s.+\sha\s+scritto"
    r"|Em\s.+\sescreveu"
    r"|Den\s.+\sskrev(?:\s.+)?"
    r")\s*:$",
    re.IGNORECASE,
)
DATE_OR_ADDRESS = re.compile(r"\d|@")
ORIGINAL_MESSAGE = re.compile(
    r"^-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original"
    r"|Oorspronkelijk bericht|Messaggio originale|Mensagem original|Ursprungligt meddelande"
    r"|Forwarded message|Weitergeleitete Nachricht)\s*-{2,}$",
    re.IGNORECASE,
)
OUTLOOK_RULE = re.compile(r"^_{10,}$")
# Outlook's header block of the quoted message, in the languages it is localized into:
# a From line followed within a few lines by at least two of Sent/Date, To, Subject.
HEADER_FROM = re.compile(r"^\*{0,2}(?:From|Von|De|Van|Da|Från|Fra)\s*:", re.IGNORECASE)
HEADER_OTHERS = re.compile(
    r"^\*{0,2}(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado|Fecha|Verzonden|Inviato"
    r"|Data|Skickat|Sendt|To|An|À|A|Para|Aan|Till|Til|Cc|Subject|Betreff|Objet|Asunto"
    r"|Onderwerp|Oggetto|Assunto|Ämne|Emne)\s*:",
    re.IGNORECASE,
)
HEADER_WINDOW = 5  # lines after "From:" searched for the rest of the block
SIGNATURE_DELIMITER = re.compile(r"^--\s?$")  # RFC 3676 § 4.3 "-- ", often trimmed to "--"
MOBILE_SIGNATURE = re.compile(
    r"^(?:Sent from my\s.+|Sent from (?:Mail|Outlook) for\s.+|Get Outlook for\s.+"
    r"|Von meinem\s.+\sgesendet|Envoyé de mon\s.+|Enviado desde mi\s.+"
    r"|Verzonden (?:vanaf|met) mijn\s.+|Inviato da\s.+|Enviado do meu\s.+|Skickat från min\s.+)$",
    re.IGNORECASE,
)
BLANK_RUNS = re.compile(r"\n{3,}")
UNUSUAL_SPACES = re.compile(r"[\u00a0\u2007\u202f\u200b\ufeff]")


def new_words(text: str) -> str:
    """What the writer added: ``text`` up to the quoted message, less signature and quotes.

    Paragraphs are kept (as markdown paragraphs); "" when nothing new is left.
    """
    lines = [line.rstrip() for line in UNUSUAL_SPACES.sub(" ", text).split("\n")]
    lines = lines[: _quote_start(lines)]
    lines = lines[: _signature_start(lines)]
    return _tidy(_unquoted("\n".join(lines)))


def _quote_start(lines: list[str]) -> int:
    """Index of the first line of the quoted message (``len(lines)`` when there is none)."""
    for index, line in enumerate(lines):
        stripped = line.strip()
        if ORIGINAL_MESSAGE.match(stripped) or OUTLOOK_RULE.match(stripped):
            return index
        if _is_header_block(lines, index):
            return index
        if _is_quote_header(lines, index, stripped):
            return index
    return len(lines)


def _is_quote_header(lines: list[str], index: int, stripped: str) -> bool:
    if not stripped or stripped.startswith(">"):
        return False
    candidates = [(stripped, index + 1)]
    wrapped = index + 1 < len(lines) and lines[index + 1].strip()
    if wrapped and not stripped.endswith((".", "!", "?")):  # a long header wraps mid-phrase
        candidates.append((f"{stripped} {lines[index + 1].strip()}", index + 2))
    for candidate, after in candidates:
        if QUOTE_HEADER.match(candidate) and (
            DATE_OR_ADDRESS.search(candidate) or _quoted_follows(lines, after)
        ):
            return True
    return False


def _quoted_follows(lines: list[str], start: int) -> bool:
    following = next((line for line in lines[start:] if line.strip()), "")
    return following.lstrip().startswith(">")


def _is_header_block(lines: list[str], index: int) -> bool:
    if not HEADER_FROM.match(lines[index].strip()):
        return False
    window = lines[index + 1 : index + 1 + HEADER_WINDOW]
    return sum(1 for line in window if HEADER_OTHERS.match(line.strip())) >= 2


def _signature_start(lines: list[str]) -> int:
    """Index of the signature delimiter or a mobile client's sign-off, after some words."""
    for index, line in enumerate(lines):
        stripped = line.strip()
        if SIGNATURE_DELIMITER.match(stripped) or MOBILE_SIGNATURE.match(stripped):
            return index
    return len(lines)


class _QuotesAndSignatures(ParsedReply):
    """email-reply-parser without its header rules: ``_quote_start`` has already cut at every
    real quote header, so a line left that starts "To: " or ends "wrote:" is the writer's own
    and must not hide the lines after it (nor be joined with earlier ones)."""

    NEVER = re.compile(r"(?!)")
    QUOTE_HDR_REGEX = HEADER_REGEX = NEVER
    MULTI_QUOTE_HDR_REGEX = MULTI_QUOTE_HDR_REGEX_MULTILINE = NEVER


def _unquoted(text: str) -> str:
    """email-reply-parser's visible fragments (not quoted, not a trailing signature),
    joined as paragraphs, so words between two quotes (an inline answer) stay apart."""
    fragments = _QuotesAndSignatures(text).read().fragments
    kept = [fragment.content for fragment in fragments if not (fragment.hidden or fragment.quoted)]
    return "\n\n".join(content for content in kept if content)


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.split("\n")]
    return BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()
