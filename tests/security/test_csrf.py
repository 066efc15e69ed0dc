"""Every state-changing route needs the session's CSRF token, or is on the short list of
routes that something else authenticates (a signature, a bearer token, a signed link).
"""

from __future__ import annotations

import pytest

from tests.security.conftest import FORM, client_as, snapshot
from tests.security.routes import CSRF_PROTECTED, EXEMPT

pytestmark = pytest.mark.usefixtures("redis")


@pytest.fixture
def app_overrides():
    return {
        "inbound_secret": "inbound-secret",
        "stripe_secret_key": "sk_test_unused",
        "stripe_webhook_secret": "whsec_test",
    }


def test_every_form_post_without_the_csrf_token_is_refused_and_changes_nothing(app, session, world):
    editor = client_as(app, world, "editor")
    editor.get("/admin/issues")  # a real session, as a browser has one
    before = snapshot(session)
    wrong = []
    for (method, _), template in CSRF_PROTECTED.items():
        path = template.format(**world.values)
        response = editor.open(path, method=method, data=FORM)
        if response.status_code not in (400, 403):
            wrong.append(f"{method} {path}: {response.status_code}")
        elif "did not come from this site" not in response.get_data(as_text=True):
            wrong.append(f"{method} {path}: refused, but not for the missing token")
    assert not wrong, "accepted without a CSRF token:\n" + "\n".join(wrong)
    assert snapshot(session) == before


def test_each_exempt_route_refuses_a_request_without_its_own_proof(app, session, world):
    before = snapshot(session)
    stranger = app.test_client()  # no cookie, no token, no signature
    for (method, rule), (path, proof, refused) in EXEMPT.items():
        body = {"json": {"title": "x"}} if method == "PATCH" else {"data": FORM}
        response = stranger.open(path.format(**world.values), method=method, **body)
        assert response.status_code in refused, f"{method} {rule} is authenticated by {proof}"
    assert snapshot(session) == before
