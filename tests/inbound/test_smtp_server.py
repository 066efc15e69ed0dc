"""``kith inbound-smtp``: real mail over SMTP and LMTP to the running aiosmtpd server."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import time

import pytest
from sqlalchemy import func, select

from app import create_app
from app.inbound.smtp_server import InboundController
from app.members import tokens
from app.members.models import Member
from app.sending.models import Bounce, Delivery
from tests.conftest import SECRET, make_member
from tests.inbound.conftest import bounce_address, report
from tests.sending.deliveries import sent_deliveries
from tests.test_up import KITH, free_port


@pytest.fixture
def delivery(session):
    ann = make_member(session, email="ann@example.com")
    return sent_deliveries(session)[ann.id]


@pytest.fixture(params=["smtp", "lmtp"])
def server(request, app):
    port = free_port()
    controller = InboundController(app, host="127.0.0.1", port=port, lmtp=request.param == "lmtp")
    controller.start()
    yield request.param, port
    controller.stop()


def connect(server) -> smtplib.SMTP:
    protocol, port = server
    client = (smtplib.LMTP if protocol == "lmtp" else smtplib.SMTP)("127.0.0.1", port, timeout=10)
    client.ehlo_or_helo_if_needed() if protocol == "smtp" else client.ehlo()
    return client


def test_a_bounce_is_received_and_recorded(server, session, settings, delivery):
    address = bounce_address(settings, delivery)
    raw = report("postfix_user_unknown", bounce=address, message_id=delivery.message_id)
    with connect(server) as client:
        refused = client.sendmail("<>", [address], raw)
    assert refused == {}
    session.expire_all()
    assert session.get(Member, delivery.member_id).status == "bounced"
    assert session.get(Delivery, delivery.id).status == "bounced"
    assert session.scalar(select(func.count()).select_from(Bounce)) == 1


def test_recipients_are_screened_at_rcpt(server, session, settings, delivery):
    reply = tokens.sign(settings, "reply", {"m": delivery.member_id, "i": delivery.issue_id})
    with connect(server) as client:
        client.mail("<>")
        stranger = client.rcpt("someone@elsewhere.example")
        forged = client.rcpt("bounce+forged.token@localhost")
        forged_reply = client.rcpt(f"reply+{reply[:-2]}xx@localhost")
        replies = client.rcpt(f"reply+{reply}@localhost")
        ours = client.rcpt(bounce_address(settings, delivery))
    assert stranger[0] == forged[0] == forged_reply[0] == 550
    assert b"Only bounce+, reply+ and unsubscribe+ addresses" in stranger[1]
    assert b"5.1.1 No such address" in forged[1] and b"5.1.1 No such address" in forged_reply[1]
    assert replies[0] == ours[0] == 250


def test_an_unreadable_message_is_refused_at_data(server, session, settings, delivery):
    address = bounce_address(settings, delivery)
    with connect(server) as client, pytest.raises(smtplib.SMTPDataError) as refused:
        client.sendmail("<>", [address], report("broken_mime", bounce=address))
    assert refused.value.smtp_code == 550 and b"5.6.0" in refused.value.smtp_error
    assert session.scalar(select(func.count()).select_from(Bounce)) == 0


def test_a_delay_notice_is_accepted_and_changes_nothing(server, session, settings, delivery):
    address = bounce_address(settings, delivery)
    with connect(server) as client:
        assert client.sendmail("<>", [address], report("exim_delayed", bounce=address)) == {}
    session.expire_all()
    assert session.get(Member, delivery.member_id).status == "active"


def test_a_failure_of_kith_itself_is_temporary_for_the_sender(tmp_path, settings, delivery):
    """With the database unreachable the sender is told to try again (451), never 5xx."""
    unreachable = create_app(
        {
            "database_url": f"sqlite:///{tmp_path}/missing/dir/kith.db",
            "instance_path": tmp_path / "instance",
            "secret_key": SECRET,
            "redis_url": "redis://unused",
            "base_url": "http://localhost",
        }
    )
    port = free_port()
    controller = InboundController(unreachable, host="127.0.0.1", port=port)
    controller.start()
    address = bounce_address(settings, delivery)
    try:
        with connect(("smtp", port)) as client, pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("<>", [address], report("postfix_user_unknown", bounce=address))
    finally:
        controller.stop()
        unreachable.extensions["kith.db"].engine.dispose()
    assert refused.value.smtp_code == 451 and b"try again later" in refused.value.smtp_error


def test_the_command_listens_and_stops_on_sigterm(tmp_path):
    """The console script, as an MX or a local MTA would run it (RCPT needs no database)."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/kith.db",
        "INSTANCE_PATH": str(tmp_path),
        "SECRET_KEY": SECRET,
        "REPLY_DOMAIN": "mail.example.org",
    }
    process = subprocess.Popen(
        [KITH, "inbound-smtp", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        client = _connect_when_ready(port)
        token = tokens.sign(_settings_for(env), "bounce", {"m": 1, "d": 1})
        with client:
            client.ehlo()
            client.mail("<>")
            assert client.rcpt("someone@elsewhere.example")[0] == 550
            assert client.rcpt(f"bounce+{token}@mail.example.org")[0] == 250
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0, output
    assert f"over SMTP on 127.0.0.1:{port}" in output


def test_the_command_explains_a_port_it_cannot_take(app):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = app.test_cli_runner().invoke(args=["inbound-smtp", "--port", str(port)])
    assert result.exit_code == 1
    assert f"Error: cannot listen on 127.0.0.1:{port}: [Errno 98] Address already in use" in (
        result.output
    )


def _settings_for(env: dict[str, str]):
    from app.config import Settings

    return Settings(
        instance_path=env["INSTANCE_PATH"],
        database_url=env["DATABASE_URL"],
        redis_url=None,
        smtp_url=None,
        base_url="http://127.0.0.1:5000",
        secret_key=env["SECRET_KEY"],
        mail_from="Kith <newsletter@localhost>",
        reply_domain=env["REPLY_DOMAIN"],
    )


def _connect_when_ready(port: int, timeout: float = 15) -> smtplib.SMTP:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return smtplib.SMTP("127.0.0.1", port, timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_mail_to_the_list_unsubscribe_mailto_unsubscribes(server, session, settings, delivery):
    """RFC 2369's mailto: any message to unsubscribe+TOKEN stops bulk mail, like the link."""
    from app.members.subscriptions import unsubscribe_url

    member = session.get(Member, delivery.member_id)
    token = unsubscribe_url(settings, member).rpartition("/")[2]
    address = f"unsubscribe+{token}@{settings.reply_domain}"
    with connect(server) as client:
        assert client.sendmail("ann@example.com", [address], b"Subject: unsubscribe\r\n\r\n") == {}
        forged = f"unsubscribe+{token[:-3]}xyz@{settings.reply_domain}"
        code, _ = client.rcpt(forged) if client.mail("ann@example.com")[0] == 250 else (0, b"")
        assert code == 550
    session.expire_all()
    assert session.get(Member, delivery.member_id).status == "unsubscribed"
