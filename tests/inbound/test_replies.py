"""Mailed replies, delivered for real: over SMTP (and LMTP) into ``kith inbound-smtp``'s server,
and as raw messages POSTed to ``/inbound/email``. The messages (``fixtures/replies/*.eml``) are
shaped and encoded as Gmail, Outlook, Apple Mail, Thunderbird and mutt write them."""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from email.utils import make_msgid
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from app.db import utcnow
from app.discussions import moderation, service
from app.discussions.models import Board, Notification, Post, Thread
from app.inbound import addresses
from app.inbound import service as inbound
from app.inbound.smtp_server import InboundController
from app.issues.models import Publication
from app.members import tokens
from tests.conftest import make_member
from tests.discussions.conftest import publish_issue, topic
from tests.test_up import free_port

REPLIES = Path(__file__).parent / "fixtures" / "replies"
SECRET = "inbound-secret-for-replies"

# The client-written fixtures and exactly what each must post: the new words only.
CLIENT_REPLIES = {
    "gmail": "Loved the part about hydration — 75 % worked for me too.\n\n"
    "My starter is called Clément and he is three years old.",
    "gmail_de": "Vielen Dank für die Ausgabe!\n\nMein Teig ist gestern großartig aufgegangen.",
    "gmail_es": "¡Gracias por el número!\n\nProbé la receta el sábado.",
    "outlook_html_only": "Hi Edith,\n\nThat “starter” tip saved my loaf – it cost me 5 € in "
    "flour to find out.\n\nSee [my notes](<https://bakery.example.com/notes>).\n\nAnn",
    "outlook_ios": "Café au lait and a slice of this bread: perfect.",
    "outlook_original_message": "Two questions:\n1. How warm was your kitchen?\n2. Which flour?"
    "\n\nAnn",
    "apple_mail": "Baked it this morning. The crumb is “open” at last!",
    "thunderbird_flowed": "I tried the overnight method you describe and the loaf rose higher "
    "than any I have baked before, even with the kitchen at 18 °C.\n\nNext week: rye.",
    "thunderbird_fr": "Merci pour ce numéro, c'était très clair.\n\nÀ bientôt,\nAnne",
    "thunderbird_ja": "素晴らしい記事でした。\n\n明日、焼いてみます。",
    "mutt_koi8r": "Спасибо, хлеб получился!",
    "with_attachment": "My recipe card is attached.",
}


def mail(name: str, to: str, *, headers: dict[str, str] | None = None) -> bytes:
    """Fixture ``name`` addressed to ``to``, with ``headers`` replacing (or adding) fields,
    as CRLF bytes an MTA passes on."""
    raw = (REPLIES / f"{name}.eml").read_bytes().replace(b"%%TO%%", to.encode())
    raw = raw.replace(b"\r\n", b"\n")
    head, _, body = raw.partition(b"\n\n")
    for field, value in (headers or {}).items():
        kept = [
            line
            for line in _unfolded(head)
            if not line.lower().startswith(field.lower().encode() + b":")
        ]
        head = b"\n".join([*kept, f"{field}: {value}".encode()])
    return (head + b"\n\n" + body).replace(b"\n", b"\r\n")


def _unfolded(head: bytes) -> list[bytes]:
    lines: list[bytes] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and lines:
            lines[-1] += b"\n" + line
        else:
            lines.append(line)
    return lines


def plain(to: str, body: str, *, sender: str = "ann@example.com", **headers: str) -> bytes:
    """A minimal text reply, for the cases where the client does not matter."""
    fields = {
        "From": sender,
        "To": to,
        "Subject": "Re: Sourdough",
        "Message-ID": make_msgid(domain="example.com"),
        "Content-Type": "text/plain; charset=utf-8",
    }
    fields.update({name.replace("_", "-"): value for name, value in headers.items()})
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items() if value is not None)
    return (head + "\r\n" + body.replace("\n", "\r\n")).encode()


# --- the two doors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    code: int  # the SMTP reply code, or the HTTP status
    detail: str
    status: str | None = None  # the outcome's name (HTTP answers carry it)
    post_id: int | None = None


# outcome → (SMTP reply code and enhanced status, HTTP status)
EXPECTED = {
    "posted": ("250 2.0.0", 201),
    "duplicate": ("250 2.0.0", 202),
    "ignored": ("250 2.0.0", 202),
    "rejected": ("550 5.7.1", 403),
    "rate_limited": ("450 4.7.1", 429),
    "unparsable": ("550 5.6.0", 400),
    "invalid_address": ("550 5.1.1", 422),
}


@dataclass
class Door:
    name: str  # smtp | lmtp | http
    deliver: Callable[..., Answer]

    def expect(self, answer: Answer, outcome: str, words: str = "") -> None:
        smtp, http = EXPECTED[outcome]
        if self.name == "http":
            assert (answer.code, answer.status) == (http, outcome), answer
        else:
            code, enhanced = smtp.split()
            assert answer.code == int(code) and answer.detail.startswith(enhanced), answer
        assert words in answer.detail, answer


def _smtp(protocol: str, port: int, raw: bytes, to: str, sender: str) -> Answer:
    client_class = smtplib.LMTP if protocol == "lmtp" else smtplib.SMTP
    with client_class("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        client.mail(sender)
        code, text = client.rcpt(to)
        if code < 400:
            code, text = client.data(raw)
    return Answer(code, text.decode())


def _http(client, raw: bytes, to: str | None, sender: str) -> Answer:
    query = f"?to={quote(to)}" if to else ""
    response = client.post(
        f"/inbound/email{query}",
        data=raw,
        headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "message/rfc822"},
    )
    body = response.get_json()
    return Answer(response.status_code, body["detail"], body["status"], body.get("post_id"))


@contextmanager
def open_door(name: str, app, client) -> Iterator[Door]:
    if name == "http":
        yield Door(name, lambda raw, to, sender="ann@example.com": _http(client, raw, to, sender))
        return
    port = free_port()
    controller = InboundController(app, host="127.0.0.1", port=port, lmtp=name == "lmtp")
    controller.start()
    try:
        yield Door(
            name, lambda raw, to, sender="ann@example.com": _smtp(name, port, raw, to, sender)
        )
    finally:
        controller.stop()


@pytest.fixture
def app_overrides():
    return {"inbound_secret": SECRET}


@pytest.fixture(params=["smtp", "http"])
def door(request, app, client) -> Iterator[Door]:
    with open_door(request.param, app, client) as opened:
        yield opened


@pytest.fixture
def smtp_door(app, client) -> Iterator[Door]:
    with open_door("smtp", app, client) as opened:
        yield opened


# --- people and places --------------------------------------------------------------------------


@pytest.fixture
def settings(app):
    return app.extensions["kith.settings"]


@pytest.fixture
def ann(session):
    return make_member(session, email="ann@example.com", name="Ann Reader", tier="paid")


@pytest.fixture
def bob(session):
    return make_member(session, email="bob@example.com", name="Bob Baker")


@pytest.fixture
def issue(session):
    return publish_issue(session, title="Sourdough", visibility="members")


@pytest.fixture
def to(settings, ann, issue) -> str:
    """Ann's reply address for the issue, as its email's Reply-To carries it."""
    return addresses.reply_address(settings, ann.id, issue_id=issue.id)


def posts(session) -> list[Post]:
    session.expire_all()
    return list(session.scalars(select(Post).order_by(Post.id)))


def thread_of(session, issue) -> Thread | None:
    return session.scalar(select(Thread).where(Thread.issue_id == issue.id))


# --- replies as clients write them --------------------------------------------------------------


@pytest.mark.parametrize("name", CLIENT_REPLIES)
def test_a_client_written_reply_posts_its_new_words(door, session, ann, issue, to, name):
    answer = door.deliver(mail(name, to), to)
    door.expect(answer, "posted", "posted as private feedback")
    [post] = posts(session)
    assert post.body_markdown == CLIENT_REPLIES[name]
    assert (post.thread_id, post.parent_id) == (thread_of(session, issue).id, None)
    assert (post.author_id, post.source, post.private) == (ann.id, "email", True)
    assert post.message_id and post.message_id.startswith("<")
    assert "<script" not in post.body_html and "never" not in post.body_markdown


def test_a_reply_over_lmtp_posts_too(app, client, session, ann, issue, to):
    with open_door("lmtp", app, client) as door:
        door.expect(door.deliver(mail("gmail", to), to), "posted")
    assert [post.body_markdown for post in posts(session)] == [CLIENT_REPLIES["gmail"]]


def test_an_attachment_is_left_out_and_said_so(door, session, ann, issue, to):
    door.expect(door.deliver(mail("with_attachment", to), to), "posted", "Attachments are not")
    assert "recipe.pdf" not in posts(session)[0].body_html


def test_html_in_a_text_reply_is_shown_as_text(door, session, ann, issue, to):
    raw = plain(to, "<b>bold?</b> <img src=x onerror=alert(1)>\n\n> quoted")
    door.expect(door.deliver(raw, to), "posted")
    [post] = posts(session)
    assert post.body_markdown == "<b>bold?</b> <img src=x onerror=alert(1)>"
    assert post.body_html == "<p>&lt;b&gt;bold?&lt;/b&gt; &lt;img src=x onerror=alert(1)&gt;</p>\n"


def test_the_webhook_finds_the_reply_address_in_the_message(client, session, ann, issue, to):
    """An ESP that passes no envelope recipient: the reply's own To names the address."""
    answer = _http(client, mail("gmail", to), None, "ann@example.com")
    assert (answer.code, answer.status) == (201, "posted")
    assert len(posts(session)) == 1


# --- public or private, top-level or nested -----------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "private", "counted"), [("private", True, 0), ("public", False, 1)]
)
def test_the_issue_setting_decides_whether_a_reply_is_public(
    door, session, ann, issue, to, setting, private, counted
):
    issue.mailed_replies = setting
    session.commit()
    words = "private feedback" if private else "in the discussion"
    door.expect(door.deliver(plain(to, "Thank you!"), to), "posted", words)
    [post] = posts(session)
    assert post.private is private
    assert thread_of(session, issue).post_count == counted


@pytest.fixture
def conversation(session, issue, ann, bob):
    """Bob's public post in the issue's thread and Ann's public reply to it."""
    thread = service.issue_thread(session, issue)
    start = service.create_post(session, bob, thread, "Who else tried rye?")
    answer = service.create_post(session, ann, thread, "Me!", parent_id=start.id)
    session.commit()
    return thread, start, answer


def test_a_reply_to_a_notification_nests_under_the_post(
    door, session, settings, ann, bob, conversation
):
    thread, start, _ = conversation
    to = addresses.reply_address(settings, bob.id, thread_id=thread.id, post_id=start.id)
    door.expect(
        door.deliver(plain(to, "Rye is next week.", sender="Bob@Example.com"), to), "posted"
    )
    post = posts(session)[-1]
    assert (post.thread_id, post.parent_id, post.private, post.author_id) == (
        thread.id,
        start.id,
        False,
        bob.id,
    )
    notified = session.scalars(
        select(Notification.member_id).where(Notification.post_id == post.id)
    )
    assert list(notified) == [ann.id]  # the same rules as a reply on the web


def test_a_reply_to_a_reply_joins_its_conversation(door, session, settings, bob, conversation):
    thread, start, answer = conversation
    to = addresses.reply_address(settings, bob.id, thread_id=thread.id, post_id=answer.id)
    door.expect(door.deliver(plain(to, "Good.", sender="bob@example.com"), to), "posted")
    assert posts(session)[-1].parent_id == start.id  # one level of nesting


def test_a_thread_token_without_a_post_posts_top_level(door, session, settings, bob):
    board = Board(slug="bread", name="Bread", access="members")
    session.add(board)
    session.commit()
    forum = topic(session, board, bob, "Flour brands")
    to = addresses.reply_address(settings, bob.id, thread_id=forum.id)
    door.expect(
        door.deliver(plain(to, "Try stone-ground.", sender="bob@example.com"), to), "posted"
    )
    post = posts(session)[-1]
    assert (post.thread_id, post.parent_id, post.private) == (forum.id, None, False)


def test_a_reply_in_a_private_conversation_stays_private(door, session, settings, ann, issue):
    """Ann's private feedback, the editor's answer mailed to her, her reply to that answer."""
    editor = make_member(session, email="editor@example.com", role="editor", name="Edith")
    thread = service.issue_thread(session, issue)
    feedback = service.create_post(session, ann, thread, "A question.", private=True)
    answer = service.create_post(
        session, editor, thread, "An answer.", parent_id=feedback.id, private=True
    )
    session.commit()
    to = addresses.reply_address(settings, ann.id, thread_id=thread.id, post_id=answer.id)
    door.expect(door.deliver(plain(to, "Thanks, Edith."), to), "posted")
    post = posts(session)[-1]
    assert (post.parent_id, post.private) == (feedback.id, True)


def test_a_post_gone_or_elsewhere_is_a_clear_rejection(
    door, session, settings, ann, bob, issue, conversation
):
    thread, start, _ = conversation
    other = service.issue_thread(session, publish_issue(session, title="Rye"))
    moderation.delete_own_post(session, bob, start)
    session.commit()
    before = len(posts(session))
    for thread_id in (thread.id, other.id):
        to = addresses.reply_address(settings, ann.id, thread_id=thread_id, post_id=start.id)
        door.expect(door.deliver(plain(to, "Hm."), to), "rejected", "no longer there")
    missing = addresses.reply_address(settings, ann.id, thread_id=thread.id + 999)
    door.expect(door.deliver(plain(missing, "Hm."), missing), "rejected", "no longer exists")
    assert len(posts(session)) == before


# --- machines, not people -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Auto-Submitted": "auto-generated; owner-email=ann@example.com"},
        {"X-Autoreply": "yes"},
        {"X-Autorespond": "Thank you for your email"},
        {"Precedence": "bulk"},
        {"Precedence": "auto_reply"},
        {"Precedence": "junk"},
        {"X-Auto-Response-Suppress": "All"},
        {"Subject": "Out of Office: Re: Sourdough"},
        {"Subject": "Automatic reply: Sourdough"},
        {"Subject": "Abwesenheitsnotiz: Sourdough"},
        {"Subject": "=?utf-8?q?R=C3=A9ponse_automatique_=3A_Sourdough?="},
        {"Subject": "=?utf-8?q?Respuesta_autom=C3=A1tica=3A_Sourdough?="},
        {"Subject": "Fuera de la oficina"},
        {"Return-Path": "<>"},
        {"From": "Mail Delivery System <MAILER-DAEMON@mail.example.net>"},
    ],
    ids=lambda headers: "-".join(f"{k}={v[:14]}" for k, v in headers.items()),
)
def test_auto_replies_and_bounces_are_taken_and_ignored(door, session, ann, issue, to, headers):
    door.expect(door.deliver(mail("thunderbird_flowed", to, headers=headers), to), "ignored")
    assert posts(session) == []


@pytest.mark.parametrize("name", ["outlook_out_of_office", "bounce_to_reply_address"])
def test_real_out_of_office_and_bounce_messages_are_ignored(door, session, ann, issue, to, name):
    door.expect(door.deliver(mail(name, to), to), "ignored", "Not posted")
    assert posts(session) == [] and thread_of(session, issue) is None


def test_a_null_envelope_sender_is_a_bounce(smtp_door, session, ann, issue, to):
    smtp_door.expect(smtp_door.deliver(mail("gmail", to), to, sender=""), "ignored")
    assert posts(session) == []


@pytest.mark.parametrize(
    "headers", [{"Auto-Submitted": "no"}, {"Subject": "Re: Out of office culture"}]
)
def test_people_writing_about_such_things_are_posted(door, session, ann, issue, to, headers):
    door.expect(door.deliver(mail("thunderbird_flowed", to, headers=headers), to), "posted")


def test_a_reply_with_nothing_new_is_ignored(door, session, ann, issue, to):
    raw = plain(to, "On Mon, 3 Mar 2025 at 09:00, Edith <e@example.org> wrote:\n> Hello\n")
    door.expect(door.deliver(raw, to), "ignored", "nothing new in the reply")
    assert posts(session) == []


# --- who may post -------------------------------------------------------------------------------


def forged(settings, ann, issue, to) -> str:
    return to.replace("@", "x@", 1)


def other_purpose(settings, ann, issue, to) -> str:
    token = tokens.sign(settings, "unsubscribe", {"m": ann.id, "i": issue.id})
    return f"reply+{token}@{settings.reply_domain}"


def no_target(settings, ann, issue, to) -> str:
    token = tokens.sign(settings, "reply", {"m": ann.id, "i": str(issue.id)})
    return f"reply+{token}@{settings.reply_domain}"


@pytest.mark.parametrize("make", [forged, other_purpose, no_target])
def test_a_forged_or_damaged_address_is_refused(door, session, settings, ann, issue, to, make):
    address = make(settings, ann, issue, to)
    answer = door.deliver(mail("gmail", address), address)
    if door.name == "http":
        door.expect(answer, "invalid_address", "No such address")
    else:  # refused at RCPT, before any data is sent
        assert answer.code == 550 and answer.detail.startswith("5.1.1 No such address"), answer
    assert posts(session) == []


def test_another_members_address_is_refused(door, session, settings, ann, bob, issue):
    bobs = addresses.reply_address(settings, bob.id, issue_id=issue.id)
    door.expect(door.deliver(mail("gmail", bobs), bobs), "rejected", "must come from the address")
    assert posts(session) == []


@pytest.mark.parametrize(
    "sender",
    [
        "Ann <ann@example.org>",
        "ann@example.com.evil.example",
        '"ann@example.com" <mallory@example.net>',
        "ann@example.com, mallory@example.net",
        "undisclosed-recipients:;",
    ],
)
def test_a_sender_that_is_not_the_member_is_refused(door, session, ann, issue, to, sender):
    raw = mail("gmail", to, headers={"From": sender})
    door.expect(door.deliver(raw, to), "rejected", "must come from the address")
    assert posts(session) == []


def test_any_sender_may_reply_when_the_editor_allows_it(door, session, ann, issue, to):
    session.get(Publication, 1).replies_from_any_address = True
    session.commit()
    raw = mail("gmail", to, headers={"From": "Ann at work <a.reader@work.example>"})
    door.expect(door.deliver(raw, to), "posted")
    assert [post.author_id for post in posts(session)] == [ann.id]


def test_a_pending_member_cannot_reply(door, session, ann, issue, to):
    ann.status = "pending"
    session.commit()
    door.expect(door.deliver(mail("gmail", to), to), "rejected", "Confirm your email address")
    assert posts(session) == []


def test_an_erased_member_cannot_reply(door, session, ann, issue, to):
    session.delete(ann)
    session.commit()
    door.expect(door.deliver(mail("gmail", to), to), "rejected", "belongs to nobody")


def test_a_locked_thread_refuses_and_writes_nothing(door, session, ann, issue, to):
    editor = make_member(session, email="editor@example.com", role="editor")
    thread = service.issue_thread(session, issue)
    moderation.set_thread_flag(session, editor, thread, "locked", True)
    session.commit()
    door.expect(door.deliver(mail("gmail", to), to), "rejected", "This thread is locked.")
    assert posts(session) == []


@pytest.mark.parametrize(
    ("discussion", "tier", "words"),
    [("off", "paid", "discussion of this issue is closed"), ("paid", "free", "for paid members")],
)
def test_the_discussion_setting_is_obeyed(door, session, ann, issue, to, discussion, tier, words):
    issue.discussion, ann.tier = discussion, tier
    session.commit()
    door.expect(door.deliver(mail("gmail", to), to), "rejected", words)
    assert posts(session) == [] and thread_of(session, issue) is None  # not even a new thread


def test_a_suspended_member_cannot_reply(door, session, ann, issue, to):
    ann.posting_suspended_until = utcnow() + timedelta(days=1)
    session.commit()
    door.expect(door.deliver(mail("gmail", to), to), "rejected", "suspended")


def test_a_member_posting_too_fast_is_told_to_try_later(door, session, ann, issue, to):
    thread = service.issue_thread(session, issue)
    for number in range(service.RATE_LIMIT):
        service.create_post(session, ann, thread, f"Post {number}")
    session.commit()
    door.expect(door.deliver(mail("gmail", to), to), "rate_limited", "posting very fast")
    assert len(posts(session)) == service.RATE_LIMIT


def test_a_reply_too_long_to_post_is_refused(door, session, ann, issue, to):
    raw = plain(to, "Many words, wrapped as a client wraps.\n" * (service.MAX_BODY // 38 + 1))
    door.expect(door.deliver(raw, to), "rejected", "too long")
    assert posts(session) == []


# --- the same mail twice, and mail that cannot be read --------------------------------------


def test_a_redelivered_reply_posts_once(app, client, session, ann, issue, to):
    """The sender's server retries after a lost answer, or the mail comes by both doors."""
    raw = mail("gmail", to)
    with open_door("smtp", app, client) as smtp:
        smtp.expect(smtp.deliver(raw, to), "posted")
        smtp.expect(smtp.deliver(raw, to), "duplicate", "posted before")
    again = _http(client, raw, to, "ann@example.com")
    [post] = posts(session)
    assert (again.code, again.status, again.post_id) == (202, "duplicate", post.id)


def test_a_reply_without_message_id_posts_once(door, session, ann, issue, to):
    raw = plain(to, "No id here.", Message_ID=None)
    door.expect(door.deliver(raw, to), "posted")
    door.expect(door.deliver(raw, to), "duplicate")
    [post] = posts(session)
    assert post.message_id.startswith("sha256:")


@pytest.mark.parametrize(
    "raw",
    [
        lambda to: mail("broken_mime", to),
        lambda to: b"\x00\xff garbage without any header\r\n",
        lambda to: b"",
    ],
    ids=["no-boundary", "garbage", "empty"],
)
def test_unreadable_mail_is_refused_cleanly(door, session, ann, issue, to, raw):
    door.expect(door.deliver(raw(to), to), "unparsable")
    assert posts(session) == []


def test_odd_but_readable_mime_never_crashes(door, session, ann, issue, to):
    """Charsets nobody knows, bad base64, a body that is only an attachment, a Message-ID the
    stdlib's parser chokes on: each gets an answer, none an error of Kith's."""
    odd = [
        plain(to, "caf\xe9 ok", Content_Type="text/plain; charset=x-unknown-8bit"),
        plain(to, "nul ok", Content_Type='text/plain; charset="utf\x00-8"'),
        plain(to, "odd id ok", Message_ID="<@>"),
        plain(to, "!!!not base64!!!", Content_Transfer_Encoding="base64"),
        plain(to, "only an attachment", Content_Disposition="attachment; filename=a.txt"),
    ]
    for raw in odd:
        answer = door.deliver(raw, to)
        assert answer.code in (250, 201, 202), answer
    texts = [post.body_markdown for post in posts(session)]
    assert texts[:3] == ["café ok", "nul ok", "odd id ok"]
    assert posts(session)[2].message_id == "<@>"


def test_a_huge_message_is_refused(door, session, ann, issue, to):
    huge = plain(to, ("x" * 76 + "\n") * (inbound.MAX_MESSAGE_BYTES // 77 + 1))
    answer = door.deliver(huge, to)
    assert answer.code == (413 if door.name == "http" else 552), answer
    assert session.scalar(select(func.count()).select_from(Post)) == 0
