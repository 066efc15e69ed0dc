"""DKIM: with a selector and a key configured, every message Kith sends verifies with dkimpy."""

from __future__ import annotations

import base64

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app import create_app
from app.issues import service as issues
from app.sending import mailer
from app.sending.signing import SigningError
from tests.conftest import make_member, run_jobs

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC = base64.b64encode(
    KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
)


def dns(name: bytes, timeout: int = 5) -> bytes:
    assert name == b"kith1._domainkey.example.org."
    return b"v=DKIM1; k=rsa; p=" + PUBLIC


@pytest.fixture(scope="module")
def key_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("dkim") / "private.pem"
    path.write_bytes(
        KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture
def app_overrides(key_path):
    return {"dkim_selector": "kith1", "dkim_private_key_path": key_path}


def test_issue_mail_is_signed_over_the_unsubscribe_headers(app, session, smtp, redis):
    issue = issues.save_issue(session, {"title": "Signed", "body_markdown": "Hello."})
    make_member(session, email="reader@example.com")
    session.commit()
    app.test_cli_runner().invoke(args=["send", issue.slug, "--segment", "all", "--yes"])
    run_jobs(app)
    [message] = smtp.received
    assert dkim.verify(message.data, dnsfunc=dns)
    signature = message.message["DKIM-Signature"].replace(" ", "").replace("\r\n", "")
    assert "d=example.org" in signature and "s=kith1" in signature
    assert "list-unsubscribe:list-unsubscribe-post" in signature.lower()
    tampered = message.data.replace(
        b"List-Unsubscribe: <http://localhost", b"List-Unsubscribe: <http://evil"
    )
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_transactional_mail_is_signed_too(app, smtp):
    with app.app_context():
        mailer.send_transactional(
            "a@example.com", "Hi", "login", publication="P", name="", link="http://x", minutes=15
        )
    assert dkim.verify(smtp.received[0].data, dnsfunc=dns)


def test_half_a_dkim_configuration_stops_start_up(tmp_path):
    with pytest.raises(SigningError, match="set both"):
        create_app({"instance_path": tmp_path, "secret_key": "k", "dkim_selector": "kith1"})
    with pytest.raises(SigningError, match="cannot be read"):
        create_app({"instance_path": tmp_path, "secret_key": "k", "dkim_selector": "s",
                    "dkim_private_key_path": tmp_path / "missing.pem"})  # fmt: skip
