"""P5, erasure, checked where a trace would hide: a member lives a full life (signs up, signs
in, is mailed issues, votes, replies by email and on the web, invites a friend, changes
address, bounces), deletes the account, and then a ``pg_dump`` of the whole database, every
key and value in Redis, and the app's JSON logs hold neither address nor the name, except
as the hashed consent record. Their posts stay, without an author.

PostgreSQL only (pg_dump): the app runs, committing for real, on a scratch database of its
own (``<TEST_DATABASE_URL's name>_erasure``), so the dump holds this test's rows alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import subprocess
import zlib
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage

import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.engine import make_url

from app import create_app
from app.db import transaction, utcnow
from app.discussions import moderation
from app.discussions import service as discussions
from app.discussions.models import Board, Post, Thread
from app.issues import service as issues
from app.issues.models import Issue
from app.members import audience, invites, service, tokens
from app.members.models import ConsentEvent, Member
from app.ops import logs
from app.sending import service as sending
from app.sending.jobs import enqueue_send
from tests.conftest import POSTGRES_URL, SECRET, close_app, csrf_token, run_jobs
from tests.members.test_subscriptions import LINK, form_token
from tests.smtp_sink import Fault, SMTPSink
from tests.webhooks.conftest import Receiver, make_endpoint, receiving
from tests.workers import create_database, drop_database

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")

FIRST = "Quilliam.Zephyrine@Erasure-Test.example"
SECOND = "q.zephyrine.moved@erasure-test.example"
NAME = "Quilliam Zephyrine-Oakes"
TRACES = (FIRST.lower(), SECOND, NAME.lower(), "zephyrine")
INBOUND_SECRET = "inbound-secret-for-erasure"


@pytest.fixture
def erasure_database(tmp_path) -> Iterator[str]:
    url = create_database("postgresql", tmp_path, suffix="erasure")
    yield url
    drop_database(url)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as server:
        yield server


@pytest.fixture
def kith(erasure_database, redis_url, redis, smtp, tmp_path) -> Iterator[Flask]:
    """The app as deployed: rate limits counted in Redis, JSON logs, mail to the sink."""
    app = create_app(
        {"database_url": erasure_database, "redis_url": redis_url, "smtp_url": smtp.url,
         "secret_key": SECRET, "base_url": "http://localhost", "log_format": "json",
         "instance_path": tmp_path / "instance", "page_cache_seconds": 0,
         "mail_from": "The Test Letter <letters@example.org>", "inbound_secret": INBOUND_SECRET,
         "RATELIMIT_STORAGE_URI": redis_url, "WEBHOOK_TIMEOUT_SECONDS": 2}
    )  # fmt: skip
    root = logging.getLogger()
    level = root.level
    yield app
    for handler in [h for h in root.handlers if isinstance(h, logs._KithJSONHandler)]:
        root.removeHandler(handler)
    root.setLevel(level)
    close_app(app)


def work(app: Flask) -> None:
    """Run every queued job here. The worker drops its pool unclosed (right after a fork, in
    production): close the connections this process opened first."""
    app.extensions["kith.db"].engine.dispose()
    run_jobs(app)


def mailed_to(smtp: SMTPSink, address: str) -> EmailMessage:
    """The last message the sink took for ``address``."""
    return next(m.message for m in reversed(smtp.received) if m.recipients == [address])


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def link_in(message: EmailMessage) -> str:
    return LINK.search(text_of(message)).group(1)


def press(client: FlaskClient, path: str, *, page: str | None = None, **data) -> int:
    """Open the page (``path`` itself: a link's page) and submit its form, as a person does."""
    token = csrf_token(client, page or path)
    return client.post(path, data={"csrf_token": token, **data}).status_code


def setting_the_scene(app: Flask, receiver_url: str) -> dict[str, int]:
    """An editor, a webhook endpoint for every event, a board with a topic, two issues."""
    with app.app_context(), transaction() as session:
        editor = service.create_editor(session, "editor@example.org", name="Edith")
        make_endpoint(session, receiver_url)
        board = Board(slug="kitchen", name="Kitchen", access="public")
        session.add(board)
        session.flush()
        topic = Thread(kind="topic", board_id=board.id, title="Hydration", author_id=editor.id)
        session.add(topic)
        session.flush()
        ids = {"editor": editor.id, "topic": topic.id}
        for n in (1, 2):
            issue = issues.save_issue(
                session, {"title": f"Crumb {n}", "body_markdown": "Flour, water, salt.",
                          "mailed_replies": "public", "feedback_choices": 3}
            )  # fmt: skip
            issues.publish(session, issue)
            ids[f"issue{n}"] = issue.id
    return ids


def send(app: Flask, issue_id: int) -> None:
    with app.app_context():
        with transaction() as session:
            send_id = sending.start_send(session, session.get(Issue, issue_id), "all").id
        enqueue_send(send_id)
    work(app)


def signing_up_and_in(app: Flask, client: FlaskClient, smtp: SMTPSink) -> int:
    """Subscribe, confirm, then sign in on a second device: consent rows, tokens, limits."""
    data = {"email": FIRST, "name": NAME, "form_token": form_token(client)}
    response = client.post("/subscribe", data=data, headers={"Origin": "http://localhost"})
    assert response.status_code == 200
    work(app)
    assert press(client, link_in(mailed_to(smtp, FIRST.lower()))) == 302
    other_device = app.test_client()
    assert press(other_device, "/login", email=FIRST) == 200
    work(app)
    assert press(other_device, link_in(mailed_to(smtp, FIRST.lower()))) == 302
    with app.app_context(), transaction() as session:
        member = service.find_by_email(session, FIRST)
        audience.set_tags(session, [member.id], ["sourdough"], add=True)
        invites.allow_friends(session, FIRST, 1)
        member.stripe_customer_id = "cus_erasure"
        return member.id


def taking_part(app: Flask, client: FlaskClient, smtp: SMTPSink, ids: dict[str, int]) -> None:
    """Read issue 1, rate it with a comment, reply by email and on the web, react, invite a
    friend, get suspended by the editor."""
    send(app, ids["issue1"])
    issue_mail = mailed_to(smtp, FIRST.lower())
    feedback = re.search(r"http://localhost(/feedback/\S+/3)", text_of(issue_mail)).group(1)
    assert client.post(feedback, data={"comment": "The salt made it."}).status_code == 303
    reply = EmailMessage()
    reply["From"] = f"{NAME} <{FIRST}>"
    reply["To"] = issue_mail["Reply-To"]
    reply["Subject"] = f"Re: {issue_mail['Subject']}"
    reply["Message-ID"] = "<reply-1@mail.erasure-test.example>"
    reply.set_content(f"Baked it twice.\n\nOn Monday, The Test Letter <{FIRST}> wrote:\n> Flour")
    answer = client.post(
        "/inbound/email", data=reply.as_bytes(),
        headers={"Authorization": f"Bearer {INBOUND_SECRET}", "Content-Type": "message/rfc822"},
    )  # fmt: skip
    assert answer.status_code == 201, answer.get_json()
    topic = f"/t/{ids['topic']}"
    assert press(client, f"{topic}/posts", page=topic, body="How wet is too wet?") == 303
    with app.app_context(), transaction() as session:
        mine = session.scalars(select(Post).where(Post.thread_id == ids["topic"])).one()
        editor = session.get(Member, ids["editor"])
        thread = session.get(Thread, ids["topic"])
        answer_id = discussions.create_post(
            session, editor, thread, "About 75 %.", parent_id=mine.id
        ).id
    work(app)  # the notification of the editor's answer, mailed to the member
    assert press(client, f"/posts/{answer_id}/reactions", page=topic, kind="like") == 303
    assert press(client, "/invite") == 302
    with app.app_context(), transaction() as session:  # the moderation log names them by id
        member, editor = service.find_by_email(session, FIRST), session.get(Member, ids["editor"])
        moderation.suspend(session, editor, member, utcnow() + timedelta(hours=1), "Too keen.")


def moving_and_bouncing(app: Flask, client: FlaskClient, smtp: SMTPSink, ids) -> None:
    """Change address, then have the new one refused by a server that names it, as Postfix
    does ("550 5.1.1 <address>: Recipient address rejected")."""
    assert press(client, "/account/email", email=SECOND) == 302
    work(app)
    assert press(client, link_in(mailed_to(smtp, SECOND))) == 302
    refusal = f"550 5.1.1 <{SECOND}>: Recipient address rejected: User unknown"
    smtp.fail_for([SECOND], Fault("rcpt", refusal))
    send(app, ids["issue2"])
    with app.app_context(), transaction() as session:
        assert service.find_by_email(session, SECOND).status == "bounced"
    assert client.get("/account/export.json").status_code == 200


def test_an_erased_member_leaves_no_trace_in_the_database_redis_or_logs(
    kith, smtp, redis, receiver, erasure_database, capsys
):
    app, client = kith, kith.test_client()
    ids = setting_the_scene(app, receiver.url)
    member_id = signing_up_and_in(app, client, smtp)
    taking_part(app, client, smtp, ids)
    moving_and_bouncing(app, client, smtp, ids)
    assert "zephyrine" in pg_dump(erasure_database)  # the dump would show a trace

    token = csrf_token(client, "/account")
    deleted = client.post("/account/delete", data={"csrf_token": token, "confirm_email": SECOND})
    assert deleted.status_code == 302
    work(app)  # the webhook deliveries, member.deleted among them

    dump = pg_dump(erasure_database)
    assert "copy public.members" in dump and "about 75 %." in dump
    assert_untraced("the database dump", dump)
    in_redis = redis_text(redis)
    assert "limiter/login:" in in_redis and "rq:job:" in in_redis  # the scan saw them
    assert_untraced("Redis", in_redis)
    logged = kiths_logs(capsys.readouterr().err)
    assert '"path": "/account/email/' in logged and '"path": "/account/delete"' in logged
    assert_untraced("the logs", logged + "\n".join(signed_payloads(logged)))
    assert_posts_kept_without_author(app, ids, member_id)
    assert_consent_only_hashed(app, member_id)
    (gone,) = [r.json for r in receiver.received if r.json["type"] == "member.deleted"]
    assert gone["data"]["member"] == {"id": member_id, "email": SECOND}  # receivers erase too


def pg_dump(database_url: str) -> str:
    """The whole database as plain SQL with its data, lower-cased."""
    url = make_url(database_url).set(drivername="postgresql")
    result = subprocess.run(
        ["pg_dump", "--format=plain", "--no-owner", url.render_as_string(hide_password=False)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.lower()


def redis_text(client: redis_lib.Redis) -> str:
    """Every key of the test's Redis database and every value under it, zlib-compressed job
    data (RQ's) unpacked, as one lower-cased text."""
    parts: list[bytes] = []
    for key in client.scan_iter(count=1000):
        parts += [key, *_values(client, key)]
    return "\n".join(_readable(part) for part in parts).lower()


def _values(client: redis_lib.Redis, key: bytes) -> list[bytes]:
    match client.type(key).decode():
        case "string":
            return [client.get(key) or b""]
        case "hash":
            return [part for pair in client.hgetall(key).items() for part in pair]
        case "list":
            return client.lrange(key, 0, -1)
        case "set":
            return list(client.smembers(key))
        case "zset":
            return client.zrange(key, 0, -1)
        case "stream":
            entries = client.xrange(key)
            return [part for _, fields in entries for pair in fields.items() for part in pair]
        case other:
            raise AssertionError(f"Redis key {key!r} of an unexpected type {other}")


def _readable(value: bytes) -> str:
    with contextlib.suppress(zlib.error):
        value = zlib.decompress(value)
    return value.decode(errors="replace")


SIGNED = re.compile(r"(\.?[A-Za-z0-9_-]{8,})\.[A-Za-z0-9_-]{4,}")


def signed_payloads(text: str) -> list[str]:
    """The payloads of the signed tokens in ``text`` (link paths): signed is not encrypted,
    so a token carrying an address in a logged path is a trace too."""
    found = []
    for match in SIGNED.finditer(text):
        try:
            found.append(json.dumps(URLSafeSerializer("").load_payload(match.group(1).encode())))
        except BadData:
            continue
    return found


def kiths_logs(stderr: str) -> str:
    """Kith's JSON lines, without those of the test's own mail server (aiosmtpd)."""
    lines = [line for line in stderr.splitlines() if line.startswith("{")]
    return "\n".join(line for line in lines if json.loads(line)["logger"] != "mail.log")


def assert_untraced(where: str, text: str) -> None:
    lowered = text.lower()
    for trace in TRACES:
        at = lowered.find(trace)
        context = lowered[max(0, at - 300) : at + 200]
        assert at < 0, f"{trace!r} is still in {where}:\n…{context}…"


def assert_posts_kept_without_author(app: Flask, ids: dict[str, int], member_id: int) -> None:
    with app.app_context(), transaction() as session:
        posts = session.scalars(select(Post).where(Post.author_id.is_(None))).all()
        assert sorted(p.body_markdown for p in posts) == [
            "Baked it twice.", "How wet is too wet?", "The salt made it."
        ]  # fmt: skip
        assert session.get(Member, member_id) is None
    reader = app.test_client()
    page = reader.get(f"/t/{ids['topic']}").get_data(as_text=True)
    assert "How wet is too wet?" in page and "About 75 %." in page
    found = reader.get("/forum/search?q=wet").get_data(as_text=True)
    assert 'role="status">1 result</p>' in found  # their post, found by its words
    assert_untraced("the thread page and the forum search", page + found)


def assert_consent_only_hashed(app: Flask, member_id: int) -> None:
    with app.app_context(), transaction() as session:
        events = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
    mine = [e for e in events if e.email_hash != tokens.email_hash("editor@example.org")]
    assert [e.action for e in mine] == ["subscribe", "confirm", "email_change", "deleted"]
    assert {e.member_id for e in mine} == {None}
    assert {e.email_hash for e in mine} == {tokens.email_hash(FIRST.lower())} | {
        tokens.email_hash(SECOND)
    }
