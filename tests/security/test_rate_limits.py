"""Rate limits on the routes that mail a stranger or guess a secret: magic-link requests and
sign-ups per IP and per address, and invitation codes guessed from one IP. Over the limit the
answer is 429 with Retry-After and a page that says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pytest

from app.members import invites
from tests.conftest import csrf_token, make_member, sign_in

pytestmark = pytest.mark.usefixtures("redis")

FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


@dataclass(frozen=True)
class Limit:
    path: str
    allowed: int  # requests that pass before the limit


LIMITS = {
    # One address from many IPs, and many addresses from one IP.
    ("login", "per address"): Limit("/login", 5),
    ("login", "per IP"): Limit("/login", 10),
    ("signup", "per address"): Limit("/subscribe", 3),
    ("signup", "per IP"): Limit("/subscribe", 10),
}


def form_for(client, kind: str) -> dict[str, str]:
    if kind == "login":
        return {"csrf_token": csrf_token(client, "/login")}
    html = client.get("/subscribe").get_data(as_text=True)
    return {"form_token": FORM_TOKEN.search(html).group(1)}


@pytest.mark.parametrize("case", sorted(LIMITS), ids=" ".join)
def test_magic_link_and_signup_requests_are_limited(app, case):
    kind, key = case
    limit = LIMITS[case]
    client = app.test_client()
    form = form_for(client, kind)
    codes = []
    for number in range(limit.allowed + 1):
        address = "victim@example.org" if key == "per address" else f"a{number}@example.org"
        ip = f"10.0.0.{number + 1}" if key == "per address" else "10.0.0.1"
        response = client.post(
            limit.path, data=form | {"email": address}, environ_base={"REMOTE_ADDR": ip}
        )
        codes.append(response.status_code)
    assert codes[:-1] == [200] * limit.allowed, codes
    assert codes[-1] == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "<h1" in response.get_data(as_text=True)  # a page that says why, not a bare error


def test_invitation_codes_cannot_be_guessed(app, session):
    """A code has far more than 64 bits, and one IP gets ten guesses a minute at each door."""
    code = invites.create(session).code
    assert len(code) * math.log2(64) >= 128
    member = make_member(session, email="guesser@example.org")
    client = app.test_client()
    sign_in(client, member)
    form = {"csrf_token": csrf_token(client, "/account")}
    doors = {
        "page": lambda guess: client.get(f"/join/{guess}"),
        "redeem": lambda guess: client.post(f"/join/{guess}/redeem", data=form),
    }
    for door, knock in doors.items():
        misses = {knock(f"guess{number}").status_code for number in range(10)}
        assert misses <= {400, 404}, (door, misses)
        refused = knock(code)  # even the right code, once this IP is over the limit
        assert refused.status_code == 429, door
        assert int(refused.headers["Retry-After"]) > 0
