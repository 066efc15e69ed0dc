"""The OpenAPI document describes exactly the API there is, with the scope each call needs."""

from __future__ import annotations

import re

import schemathesis
from schemathesis.core.result import Ok

from app.api import auth

PREFIX = "/api/v1"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def documented_path(rule: str) -> str:
    """Flask's ``/members/<int:member_id>`` as OpenAPI's ``/members/{member_id}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.removeprefix(PREFIX))


def routes(app) -> dict[tuple[str, str], str]:
    """(path, method) → endpoint for every route under /api/v1."""
    return {
        (documented_path(rule.rule), method.lower()): rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(PREFIX + "/")
        for method in rule.methods - IGNORED_METHODS
    }


def test_every_route_is_documented_and_nothing_else(app, client):
    document = client.get(f"{PREFIX}/openapi.json").get_json()
    described = {
        (path, method) for path, operations in document["paths"].items() for method in operations
    }
    assert described == set(routes(app))


def test_each_operation_states_the_scope_its_view_demands(app, client):
    document = client.get(f"{PREFIX}/openapi.json").get_json()
    for (path, method), endpoint in routes(app).items():
        operation = document["paths"][path][method]
        scope = auth.required_scope(app.view_functions[endpoint])
        assert operation["x-kith-scope"] == scope, (path, method)
        if scope is None:
            assert operation["security"] == []
            continue
        assert operation["security"] == [{"bearerAuth": [scope]}], (path, method)
        expected_errors = {"401", "429"} | ({"403"} if scope == "write" else set())
        assert expected_errors <= set(operation["responses"]), (path, method)
        parameters = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert parameters == set(re.findall(r"{(\w+)}", path)), (path, method)


def test_the_document_is_served_without_a_token_and_is_valid_openapi_3_1(app, client):
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200 and response.is_json
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()  # against the OpenAPI 3.1 meta-schema; raises when it is not valid
    operations = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in operations)
    assert len(operations) == len(routes(app))
