"""Reply addresses: the shapes a reply+ token may have, and the helper every email uses."""

from __future__ import annotations

import pytest

from app.inbound import addresses
from app.members import tokens


@pytest.mark.parametrize(
    ("ids", "payload"),
    [
        ({"issue_id": 7}, {"m": 3, "i": 7}),
        ({"thread_id": 8}, {"m": 3, "t": 8}),
        ({"thread_id": 8, "post_id": 9}, {"m": 3, "t": 8, "p": 9}),
    ],
)
def test_a_reply_address_round_trips(settings, ids, payload):
    address = addresses.reply_address(settings, 3, **ids)
    assert address.startswith("reply+") and address.endswith(f"@{settings.reply_domain}")
    parsed = addresses.parse(settings, f"Kith <{address}>")
    assert (parsed.kind, parsed.payload) == ("reply", payload)


@pytest.mark.parametrize(
    "ids",
    [{}, {"post_id": 9}, {"issue_id": 7, "thread_id": 8}, {"issue_id": 7, "post_id": 9}],
)
def test_a_reply_address_names_one_place(settings, ids):
    with pytest.raises(ValueError, match="an issue, or a thread"):
        addresses.reply_address(settings, 3, **ids)


@pytest.mark.parametrize(
    "payload",
    [
        {"m": 3},
        {"m": 3, "p": 9},
        {"m": 3, "i": 7, "t": 8},
        {"m": 3, "i": 7, "p": 9},
        {"m": 3, "i": "7"},
        {"m": 3, "t": 8, "p": None},
        {"m": 3, "i": True},
        {"m": 3, "i": 7, "x": 1},
        {"m": 3, "i": 7.0},
    ],
)
def test_a_signed_reply_token_of_another_shape_is_refused(settings, payload):
    token = tokens.sign(settings, "reply", payload)
    with pytest.raises(addresses.AddressError, match="names no reply target"):
        addresses.parse(settings, f"reply+{token}@{settings.reply_domain}")


def test_other_kinds_keep_their_shapes(settings):
    bounce = tokens.sign(settings, "bounce", {"m": 3, "d": 4})
    assert addresses.parse(settings, f"bounce+{bounce}@localhost").payload == {"m": 3, "d": 4}
    unsubscribe = tokens.sign(settings, "unsubscribe", {"m": 3, "e": "ab12"})
    assert addresses.parse(settings, f"unsubscribe+{unsubscribe}@localhost").kind == "unsubscribe"
    with pytest.raises(addresses.AddressError):
        addresses.parse(settings, f"bounce+{tokens.sign(settings, 'bounce', {'m': 3})}@localhost")
