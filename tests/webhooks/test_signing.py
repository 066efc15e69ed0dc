"""The signature scheme, from the receiver's side: what it accepts and what it must refuse."""

from __future__ import annotations

import time

import pytest

from app.webhooks import signing

SECRET = "whsec_test"
BODY = b'{"id":"e1","type":"member.created","data":{}}'


def signed(timestamp: int | None = None, body: bytes = BODY, secret: str = SECRET):
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = signing.headers(secret, "e1", body, timestamp=timestamp)
    return headers["Kith-Webhook-Signature"], headers["Kith-Webhook-Timestamp"]


def test_a_fresh_request_verifies():
    signature, timestamp = signed()
    assert signature.startswith("v1=") and len(signature) == 3 + 64
    signing.verify(SECRET, BODY, signature, timestamp)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signing.signature("k", 1700000000, BODY) == f"v1={expected}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"body": BODY.replace(b"member", b"payment")}, "does not match"),
        ({"secret": "whsec_other"}, "does not match"),
        ({"timestamp": -10 * 60}, "too old"),
        ({"timestamp": +10 * 60}, "or in the future"),
    ],
)
def test_tampered_or_stale_requests_are_refused(change, message):
    timestamp = int(time.time()) + change.get("timestamp", 0)
    signature, header = signed(timestamp, secret=change.get("secret", SECRET))
    with pytest.raises(signing.SignatureError, match=message):
        signing.verify(SECRET, change.get("body", BODY), signature, header)


@pytest.mark.parametrize("header", ["", "yesterday", None])
def test_a_missing_timestamp_is_refused(header):
    signature, _ = signed()
    with pytest.raises(signing.SignatureError, match="Timestamp"):
        signing.verify(SECRET, BODY, signature, header)


def test_one_matching_signature_among_several_is_enough():
    signature, timestamp = signed()
    signing.verify(SECRET, BODY, f"v1=00ff, {signature}", timestamp)
    with pytest.raises(signing.SignatureError):
        signing.verify(SECRET, BODY, "v1=00ff v1=abcd", timestamp)


def test_secrets_are_long_random_and_distinct():
    made = {signing.new_secret() for _ in range(20)}
    assert len(made) == 20 and all(s.startswith("whsec_") and len(s) > 40 for s in made)
