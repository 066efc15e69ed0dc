"""Every GET route as every kind of reader: the allowed status codes, where a paid issue's
body may show, the security headers, and that pages made for a signed-in reader tell shared
caches to keep out.
"""

from __future__ import annotations

import pytest

from app.members import access
from app.web.security import SECRET_URL_PARAMS
from tests.conftest import csrf_token
from tests.security.conftest import (
    CANARY,
    FORM,
    ROLES,
    THREAD_CANARY,
    client_as,
    header_problems,
    snapshot,
)
from tests.security.routes import (
    ANONYMOUS,
    CSRF_PROTECTED,
    GATED_GETS,
    GET_ROUTES,
    STATE_CHANGING,
)

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


def _token_in(rule: str) -> bool:
    return bool(SECRET_URL_PARAMS & set(rule.replace(">", "<").split("<")))


@pytest.mark.parametrize("role", ROLES)
def test_each_get_route_answers_each_role_as_the_policy_says(app, world, role):
    client = client_as(app, world, role)
    viewer = None if role in ANONYMOUS else world.people[role]
    reads_paid = access.can_read_full(viewer, world.issues["paid"])
    reads_board = access.can_read_thread(viewer, world.threads["paid"])
    gated = [(template, (template, allowed)) for template, allowed in GATED_GETS.items()]
    wrong = []
    for rule, (template, allowed) in [*GET_ROUTES.items(), *gated]:
        path = template.format(**world.values)
        response = client.get(path)
        static = rule.startswith("/static/")
        body = "" if static else response.get_data(as_text=True)
        response.close()
        checks = {
            f"{response.status_code}, expected {sorted(allowed[role])}": (
                response.status_code not in allowed[role]
            ),
            "the paid body leaked": CANARY in body and not reads_paid,
            "a post from the paid board leaked": THREAD_CANARY in body and not reads_board,
            "a token in the URL, but the Referer may carry it": (
                _token_in(rule) and response.headers.get("Referrer-Policy") != "no-referrer"
            ),
            "signed-in page without Cache-Control private/no-store": (
                role not in ANONYMOUS
                and response.status_code == 200
                and not static
                and not _private(response)
            ),
        }
        problems = [problem for problem, failed in checks.items() if failed]
        wrong += [f"{path}: {problem}" for problem in problems + header_problems(response)]
    page = client.get(f"/issues/{world.values['slug']}").get_data(as_text=True)
    assert (CANARY in page) == reads_paid, f"paid issue page as {role}"
    topic = client.get(f"/t/{world.values['paid_thread_id']}").get_data(as_text=True)
    assert (THREAD_CANARY in topic) == reads_board, f"paid board topic as {role}"
    assert not wrong, f"as {role}:\n" + "\n".join(wrong)


EDITOR_ACTIONS = [
    (method, template)
    for (method, rule), template in CSRF_PROTECTED.items()
    if rule.startswith("/admin/") or rule.endswith("/moderate")
]


@pytest.mark.parametrize("role", ["anonymous", "paid"])
def test_no_reader_can_use_an_editor_s_form_even_with_a_valid_token(app, session, world, role):
    """The CSRF token proves the form came from this site, not that its sender may use it."""
    client = client_as(app, world, role)
    form = FORM | {"csrf_token": csrf_token(client, "/login")}
    before = snapshot(session)
    wrong = []
    for method, template in EDITOR_ACTIONS:
        path = template.format(**world.values)
        status = client.open(path, method=method, data=form).status_code
        if status not in ({302, 403} if role == "anonymous" else {403, 404}):
            wrong.append(f"{method} {path}: {status}")
    assert not wrong, f"as {role}:\n" + "\n".join(wrong)
    assert snapshot(session) == before
