"""``kith dkim keygen`` and ``kith dkim dns``: the printed record verifies our signatures."""

from __future__ import annotations

import re

import dkim

from app import create_app
from app.sending.signing import DKIMSigner
from tests.conftest import SECRET

MESSAGE = (
    b"From: Letters <news@example.org>\r\nTo: reader@example.com\r\nSubject: Hello\r\n"
    b"Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nHi.\r\n"
)


def kith(tmp_path, key_path=None, selector="k2026"):
    overrides = {"secret_key": SECRET, "instance_path": tmp_path / "instance",
                 "mail_from": "Letters <news@example.org>", "dkim_selector": selector,
                 "dkim_private_key_path": key_path}  # fmt: skip
    return create_app(overrides)


def test_the_printed_record_verifies_a_signed_message(tmp_path):
    key = tmp_path / "dkim.pem"
    runner = kith(tmp_path, selector=None).test_cli_runner()
    result = runner.invoke(args=["dkim", "keygen", str(key)])
    assert result.exit_code == 0, result.output
    assert key.stat().st_mode & 0o777 == 0o600

    app = kith(tmp_path, key)
    result = app.test_cli_runner().invoke(args=["dkim", "dns"])
    assert result.exit_code == 0, result.output
    name, strings = re.fullmatch(r"(\S+)\. IN TXT \( (.+) \)\n", result.output).groups()
    assert name == "k2026._domainkey.example.org"
    record = "".join(re.findall(r'"([^"]{1,255})"', strings)).encode()
    assert record.startswith(b"v=DKIM1; k=rsa; p=")

    signed = DKIMSigner.from_settings(app.extensions["kith.settings"]).sign(MESSAGE)
    lookups = []

    def dns(qname, timeout=5):
        lookups.append(qname)
        return record

    assert dkim.verify(signed, dnsfunc=dns)
    assert lookups == [b"k2026._domainkey.example.org."]


def test_keygen_never_overwrites_a_key(tmp_path):
    key = tmp_path / "dkim.pem"
    key.write_text("precious")
    runner = kith(tmp_path, selector=None).test_cli_runner()
    result = runner.invoke(args=["dkim", "keygen", str(key)])
    assert result.exit_code != 0 and "refusing to overwrite" in result.output
    assert key.read_text() == "precious"


def test_dns_without_a_key_says_what_to_set(tmp_path):
    result = kith(tmp_path, selector=None).test_cli_runner().invoke(args=["dkim", "dns"])
    assert result.exit_code != 0
    assert "set DKIM_SELECTOR and DKIM_PRIVATE_KEY_PATH first" in result.output
