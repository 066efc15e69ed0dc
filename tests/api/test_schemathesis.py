"""Schemathesis against the OpenAPI document, on the real app (WSGI) with a write token:
no 500s, and every answer (status, headers, body) as the document says. Bounded: 20
examples per operation, a fixed seed and a deadline, a few seconds per backend."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, seed, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.api import openapi
from app.discussions import service as discussions
from app.issues import service as issues
from tests.conftest import make_member

# The document the app serves at /api/v1/openapi.json (test_openapi checks they are one).
schema = schemathesis.openapi.from_dict(openapi.document())


@pytest.fixture
def app_overrides() -> dict:
    return {"API_RATE_LIMIT": "100000 per minute"}  # the run itself must not be rate limited


@pytest.fixture
def rows(session, editor, redis):
    """A few rows for the generated ids to find."""
    member = make_member(session, email="someone@example.com", tier="paid")
    issue = issues.save_issue(session, {"title": "One", "body_markdown": "Hello"})
    issues.publish(session, issue)
    thread = discussions.issue_thread(session, issue)
    discussions.create_post(session, member, thread, "A first reply")
    session.commit()


@schema.parametrize()
@seed(20261124)
@settings(
    max_examples=20,
    deadline=2000,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_description(case, app, rows, write_token):
    # The document is loaded once; each test's app (its own rolled-back transaction) is
    # handed to the operation, so schemathesis's own probes (e.g. without a token) reach it too.
    case.operation.schema.app = case.operation.app = app
    case.call_and_validate(
        headers={"Authorization": f"Bearer {write_token}"},
        # Schema-valid is not always acceptable: a forged cursor, a taken address, a slug
        # with capitals or an unknown segment term are refused (4xx, as documented).
        excluded_checks=[positive_data_acceptance],
    )
