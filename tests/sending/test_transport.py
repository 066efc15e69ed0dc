"""Transports against a real SMTP server: reuse, and temporary versus permanent failures."""

from __future__ import annotations

import mailbox

import pytest

from app.sending.transport import DeliveryError, MaildirTransport, SMTPTransport, transport_for
from tests.smtp_sink import Fault, SMTPSink

MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n"


def test_url_parsing():
    transport = SMTPTransport.from_url("smtps://user%40x:p%3Ass@mail.example.org?timeout=5")
    assert (transport.host, transport.port, transport.username, transport.password) == (
        "mail.example.org",
        465,
        "user@x",
        "p:ss",
    )
    assert transport.use_ssl and transport.timeout == 5
    assert SMTPTransport.from_url("smtp://h:2525?starttls=1").starttls
    with pytest.raises(ValueError, match="SMTP_URL must look like"):
        SMTPTransport.from_url("http://nope")


def test_one_connection_carries_many_messages(smtp):
    with SMTPTransport.from_url(smtp.url).connect() as connection:
        for number in range(5):
            connection.send("a@example.org", [f"r{number}@example.org"], MESSAGE)
    assert len(smtp.received) == 5 and smtp.connections == 1


@pytest.mark.parametrize(
    ("fault", "permanent", "code"),
    [
        (Fault("rcpt", "550 5.1.1 no such user"), True, 550),
        (Fault("rcpt", "451 4.3.0 try again later"), False, 451),
        (Fault("data", "554 5.7.1 rejected as spam"), True, 554),
        (Fault("data", "421 4.4.2 closing"), False, 421),
    ],
)
def test_server_answers_are_classified(smtp, fault, permanent, code):
    smtp.inject(fault)
    transport = SMTPTransport.from_url(smtp.url)
    with transport.connect() as connection, pytest.raises(DeliveryError) as raised:
        connection.send("a@example.org", ["b@example.org"], MESSAGE)
    assert (raised.value.permanent, raised.value.code) == (permanent, code)
    assert smtp.received == []


def test_an_answer_that_quotes_the_recipient_is_kept_without_the_address(smtp):
    """The text goes to delivery errors, logs and RQ's failed jobs, past the member's erasure."""
    smtp.inject(Fault("rcpt", "550 5.1.1 <B.Ob@Example.org>: Recipient address rejected"))
    transport = SMTPTransport.from_url(smtp.url)
    with transport.connect() as connection, pytest.raises(DeliveryError) as raised:
        connection.send("a@example.org", ["b.ob@example.org"], MESSAGE)
    assert str(raised.value) == "550 5.1.1 <(address)>: Recipient address rejected"
    assert raised.value.enhanced == "5.1.1"


def test_a_stalled_server_is_a_temporary_failure(smtp):
    smtp.inject(Fault("data", stall=2.0))
    transport = SMTPTransport.from_url(smtp.url + "?timeout=0.5")
    with pytest.raises(DeliveryError) as raised, transport.connect() as connection:
        connection.send("a@example.org", ["b@example.org"], MESSAGE)
    assert not raised.value.permanent


def test_a_refused_connection_is_a_temporary_failure():
    with SMTPSink() as sink:
        url = sink.url
    with pytest.raises(DeliveryError) as raised, SMTPTransport.from_url(url).connect():
        pass
    assert not raised.value.permanent


def test_without_smtp_url_mail_goes_to_the_maildir_outbox(tmp_path):
    transport = transport_for(None, tmp_path / "outbox")
    assert isinstance(transport, MaildirTransport)
    with transport.connect() as connection:
        connection.send("a@example.org", ["b@example.org"], MESSAGE)
    stored = list(mailbox.Maildir(tmp_path / "outbox", create=False))
    assert len(stored) == 1 and stored[0]["Subject"] == "hi"
    assert stored[0]["X-Kith-Envelope-To"] == "b@example.org"
