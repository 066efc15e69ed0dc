"""A mailed reply's words: MIME to text (``mail_text``) and quotes and signatures cut
(``reply_text``), table-driven over the forms clients write."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from app.discussions import mail_text
from app.discussions.reply_text import new_words

FIXTURES = Path(__file__).parents[1] / "inbound" / "fixtures" / "replies"
QUOTE = "> The original.\n> More of it."


@pytest.mark.parametrize(
    "header",
    [
        "On Mon, 3 Mar 2025 at 09:00, Edith <edith@example.org> wrote:",
        "On Mon, 3 Mar 2025 at 09:00, Edith Letters-Editor-With-A-Long-Name <\n"
        "edith@example.org> wrote:",
        "On 3 Mar 2025, at 09:00, Edith <edith@example.org> wrote:",
        "On 03/03/2025 09:00, Edith wrote:",
        "On Mon, Mar 03, 2025 at 09:00:00AM +0100, Edith wrote:",
        "Am Mo., 3. März 2025 um 09:00 Uhr schrieb Edith <edith@example.org>:",
        "Am 03.03.25 um 09:00 schrieb Edith:",
        "Le lun. 3 mars 2025 à 09:00, Edith <edith@example.org> a écrit :",
        "Le 03/03/2025 à 09:00, Edith a écrit\u00a0:",
        "El lun, 3 mar 2025 a las 9:00, Edith (<edith@example.org>) escribió:",
        "Op ma 3 mrt 2025 om 09:00 schreef Edith <edith@example.org>:",
        "Il giorno lun 3 mar 2025 alle ore 09:00 Edith <edith@example.org> ha scritto:",
        "Em seg., 3 de mar. de 2025 às 09:00, Edith <edith@example.org> escreveu:",
        "Den mån 3 mars 2025 kl 09:00 skrev Edith <edith@example.org>:",
        "-----Original Message-----\nFrom: Edith",
        "-----Ursprüngliche Nachricht-----\nVon: Edith",
        "________________________________\nFrom: Edith <edith@example.org>",
        "From: Edith <edith@example.org>\nSent: Monday, March 3, 2025 9:00 AM\nTo: Ann\n"
        "Subject: Sourdough",
        "*From:* Edith <edith@example.org>\n*Sent:* Monday\n*To:* Ann\n*Subject:* Sourdough",
        "Von: Edith <edith@example.org>\nGesendet: Montag, 3. März 2025 09:00\nAn: Ann\n"
        "Betreff: Sourdough",
        "De : Edith <edith@example.org>\nEnvoyé : lundi 3 mars 2025 09:00\nÀ : Ann\n"
        "Objet : Sourdough",
        "De: Edith <edith@example.org>\nEnviado: lunes, 3 de marzo de 2025 9:00\nPara: Ann\n"
        "Asunto: Sourdough",
    ],
)
def test_the_quoted_message_is_cut_at_its_header(header):
    text = f"My answer.\n\nSecond paragraph.\n\n{header}\n\n{QUOTE}\nUnquoted original line.\n"
    assert new_words(text) == "My answer.\n\nSecond paragraph."


@pytest.mark.parametrize(
    "signature",
    [
        "-- \nAnn Reader\nBaker",
        "--\nAnn Reader",
        "Sent from my iPhone",
        "Sent from my Galaxy",
        "Get Outlook for Android",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Sent from Mail for Windows",
        "Von meinem iPhone gesendet",
        "Envoyé de mon iPad",
        "Enviado desde mi iPhone",
        "Verzonden vanaf mijn iPhone",
        "Inviato da iPhone",
        "Enviado do meu iPhone",
        "Skickat från min iPhone",
    ],
)
def test_signatures_are_cut(signature):
    assert new_words(f"Thanks!\n\n{signature}\n\n{QUOTE}") == "Thanks!"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the writer's own words that look like mail furniture stay
        ("To: all readers\nI agree.", "To: all readers\nI agree."),
        (
            "On Monday I wrote: about rye.\nToday: wheat.",
            "On Monday I wrote: about rye.\nToday: wheat.",
        ),
        ("From: my kitchen\nWith love.", "From: my kitchen\nWith love."),
        ("- one\n- two", "- one\n- two"),
        # an inline answer between quotes keeps its paragraphs
        ("> q1\n\nA1\n\n> q2\n\nA2\n\n> q3", "A1\n\nA2"),
        ("Top\n> q\nBottom", "Top\n\nBottom"),
        # blank-line runs, trailing spaces, odd spaces
        ("A  \n\n\n\nB\u00a0c", "A\n\nB c"),
        # nothing new at all
        (QUOTE, ""),
        ("\n\n  \n", ""),
        ("Sent from my iPhone", ""),
    ],
)
def test_what_is_kept(text, expected):
    assert new_words(text) == expected


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
        ("<div>One</div><div><br></div><div>Two</div>", "One\n\nTwo"),
        ("a<br>b", "a\nb"),
        ("<ul><li>x</li><li>y</li></ul>", "- x\n- y"),
        ("<blockquote><p>q</p><blockquote>qq</blockquote></blockquote>", "> q\n>\n> > qq"),
        ('<a href="https://e.example/p">the page</a>', "[the page](<https://e.example/p>)"),
        ('<a href="https://e.example/">https://e.example/</a>', "https://e.example/"),
        ('<a href="javascript:alert(1)">click</a>', "click"),
        ('<a href="mailto:a@b.example">a@b.example</a>', "a@b.example"),
        ("<p>a &amp; b &lt;i&gt; &nbsp;c</p>", "a & b <i> c"),
        ("<style>p{color:red}</style><script>alert(1)</script><p>ok</p>", "ok"),
        ("<head><title>Subject</title></head><body>ok</body>", "ok"),
        ("<pre>a\n  b</pre>", "a\n  b"),
        ("<table><tr><td>a</td><td>b</td></tr></table>", "a b"),
        ('<img src="x" onerror="alert(1)">ok<iframe src="x"></iframe>', "ok"),
        ('ok<div class="gmail_quote">On … wrote:<blockquote>old</blockquote></div>', "ok"),
        ('ok<div id="divRplyFwdMsg">From: …</div><div>old</div>', "ok"),
        ('ok<div class="moz-cite-prefix">On … wrote:</div><blockquote>old</blockquote>', "ok"),
        ("<p>unclosed <b>bold<p>next", "unclosed bold\n\nnext"),
    ],
)
def test_html_becomes_text(html, text):
    assert mail_text.html_to_text(html).strip() == text


@pytest.mark.parametrize(
    ("flowed", "delsp", "text"),
    [
        ("a long \nline\n", False, "a long line\n"),
        ("a long\u3000 \nline", True, "a long\u3000line"),
        (" >not a quote\n", False, ">not a quote\n"),
        ("> quoted and \n> wrapped\nnew\n", False, "> quoted and wrapped\nnew\n"),
        ("> depth one \n>> depth two\n", False, "> depth one \n> > depth two\n"),
        ("words\n-- \nsig\n", False, "words\n-- \nsig\n"),
    ],
)
def test_format_flowed_is_unwrapped(flowed, delsp, text):
    assert mail_text.unflow(flowed, delsp=delsp) == text


def message(head: str, body: bytes):
    return BytesParser(policy=policy.default).parsebytes(head.encode() + b"\r\n\r\n" + body)


@pytest.mark.parametrize(
    ("content_type", "body", "text"),
    [
        ("text/plain; charset=utf-8", "Zoë".encode(), "Zoë"),
        ("text/plain; charset=iso-8859-1", "Zoë".encode("latin-1"), "Zoë"),
        ("text/plain; charset=windows-1252", "“Zoë” €".encode("cp1252"), "“Zoë” €"),
        ("text/plain; charset=koi8-r", "Зоя".encode("koi8-r"), "Зоя"),
        ("text/plain; charset=iso-2022-jp", "ゾーイ".encode("iso-2022-jp"), "ゾーイ"),
        # labelled wrongly or not at all: UTF-8, then Windows-1252, never an error
        ("text/plain", "Zoë".encode(), "Zoë"),
        ("text/plain; charset=us-ascii", "“Zoë”".encode("cp1252"), "“Zoë”"),
        ("text/plain; charset=x-no-such-charset", "Zoë".encode(), "Zoë"),
        ("text/plain; charset=utf-8", b"Zo\x81\xff", "Zo\ufffd\ufffd"),
    ],
)
def test_charsets_are_decoded(content_type, body, text):
    assert mail_text.body_text(message(f"Content-Type: {content_type}", body)) == text


def test_no_text_part_is_no_text():
    attachment = message("Content-Type: image/png\r\nContent-Disposition: attachment", b"x")
    assert mail_text.body_text(attachment) == ""


@pytest.mark.parametrize("name", ["gmail", "gmail_de", "apple_mail", "outlook_ios"])
def test_the_html_alternative_says_what_the_text_part_says(name):
    """Clients send both; were the text part missing, the HTML one would post the same."""
    raw = (FIXTURES / f"{name}.eml").read_bytes()
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    html = parsed.get_body(preferencelist=("html",)).get_content()
    assert new_words(mail_text.html_to_text(html)) == new_words(mail_text.body_text(parsed))
