"""Real-world-shaped bounce and complaint reports (``fixtures/*.eml``), filled in per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.members import tokens
from app.sending.models import Delivery

FIXTURES = Path(__file__).parent / "fixtures"
FBL_ADDRESS = "fbl@feedback.example.org"


def bounce_address(settings, delivery: Delivery) -> str:
    token = tokens.sign(settings, "bounce", {"m": delivery.member_id, "d": delivery.id})
    return f"bounce+{token}@{settings.reply_domain}"


def report(
    name: str,
    *,
    bounce: str = "bounce+unknown@elsewhere.example",
    recipient: str = "ann@example.com",
    message_id: str = "<unknown@elsewhere.example>",
) -> bytes:
    """Fixture ``name`` with its placeholders filled in, as the bytes an MTA would pass on."""
    raw = (FIXTURES / f"{name}.eml").read_bytes()
    for marker, value in (
        (b"%%BOUNCE%%", bounce),
        (b"%%RECIPIENT%%", recipient),
        (b"%%MESSAGE_ID%%", message_id),
        (b"%%FBL%%", FBL_ADDRESS),
    ):
        raw = raw.replace(marker, value.encode())
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture
def settings(app):
    return app.extensions["kith.settings"]
