"""Every GET route as every kind of reader: the allowed status codes, where a paid issue's
body may show, and that pages made for a signed-in reader are never stored by a shared cache.
"""

from __future__ import annotations

import pytest

from app.members import access
from tests.security.conftest import CANARY, ROLES, THREAD_CANARY, client_as
from tests.security.routes import ANONYMOUS, GATED_GETS, GET_ROUTES, STATE_CHANGING

pytestmark = pytest.mark.usefixtures("redis")


def test_every_route_is_classified(app):
    """A route nobody classified is a route nobody thought about: add it to routes.py."""
    unclassified = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and rule.rule not in GET_ROUTES:
            unclassified.append(f"GET {rule.rule}")
        for method in sorted(rule.methods - {"GET", "HEAD", "OPTIONS"}):
            if (method, rule.rule) not in STATE_CHANGING:
                unclassified.append(f"{method} {rule.rule}")
    assert not unclassified, "classify these in tests/security/routes.py: " + ", ".join(
        unclassified
    )
    known = {rule.rule for rule in app.url_map.iter_rules()}
    stale = set(GET_ROUTES) - known | {rule for _, rule in STATE_CHANGING} - known
    assert not stale, f"routes.py names rules that no longer exist: {sorted(stale)}"


def _private(response) -> bool:
    directives = {part.strip() for part in response.headers.get("Cache-Control", "").split(",")}
    return bool(directives & {"private", "no-store"})


@pytest.mark.parametrize("role", ROLES)
def test_each_get_route_answers_each_role_as_the_policy_says(app, world, role):
    client = client_as(app, world, role)
    viewer = None if role in ANONYMOUS else world.people[role]
    reads_paid = access.can_read_full(viewer, world.issues["paid"])
    reads_board = access.can_read_thread(viewer, world.threads["paid"])
    wrong = []
    gated = [(template, (template, allowed)) for template, allowed in GATED_GETS.items()]
    for rule, (template, allowed) in [*GET_ROUTES.items(), *gated]:
        path = template.format(**world.values)
        response = client.get(path)
        status = response.status_code
        if status not in allowed[role]:
            wrong.append(f"{path}: {status}, expected {sorted(allowed[role])}")
        body = response.get_data(as_text=True) if not rule.startswith("/static/") else ""
        response.close()
        if CANARY in body and not reads_paid:
            wrong.append(f"{path}: the paid body leaked")
        if THREAD_CANARY in body and not reads_board:
            wrong.append(f"{path}: a post from the paid board leaked")
        if role not in ANONYMOUS and status == 200 and not rule.startswith("/static/"):
            if not _private(response):
                wrong.append(f"{path}: signed-in page without Cache-Control private/no-store")
    page = client.get(f"/issues/{world.values['slug']}").get_data(as_text=True)
    assert (CANARY in page) == reads_paid, f"paid issue page as {role}"
    topic = client.get(f"/t/{world.values['paid_thread_id']}").get_data(as_text=True)
    assert (THREAD_CANARY in topic) == reads_board, f"paid board topic as {role}"
    assert not wrong, f"as {role}:\n" + "\n".join(wrong)
