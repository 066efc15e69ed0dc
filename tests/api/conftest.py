"""API fixtures: an editor with a write and a read token, and a client that sends them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.api import tokens
from tests.conftest import make_member

API = "/api/v1"


@dataclass
class Api:
    """Calls /api/v1 with a bearer token (or none), as a program would: no cookies."""

    client: FlaskClient
    secret: str | None

    def call(self, method: str, path: str, *, token: Any = ..., **kwargs):
        secret = self.secret if token is ... else token
        headers = dict(kwargs.pop("headers", {}))
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        return self.client.open(API + path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.call("POST", path, **kwargs)

    def patch(self, path: str, **kwargs):
        return self.call("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.call("DELETE", path, **kwargs)


def make_token(session, editor, *, scope: str = "write", name: str = "test") -> str:
    secret = tokens.create(session, editor, name=name, scope=scope).secret
    session.commit()
    return secret


@pytest.fixture
def editor(session):
    return make_member(session, email="editor@example.com", name="Edith", role="editor")


@pytest.fixture
def write_token(session, editor) -> str:
    return make_token(session, editor, scope="write", name="writer")


@pytest.fixture
def read_token(session, editor) -> str:
    return make_token(session, editor, scope="read", name="reader")


@pytest.fixture
def api(app, write_token) -> Api:
    return Api(app.test_client(use_cookies=False), write_token)


@pytest.fixture
def reader(app, read_token) -> Api:
    return Api(app.test_client(use_cookies=False), read_token)


def error_of(response) -> dict:
    """The JSON error body, after checking it is one."""
    assert response.is_json, response.get_data(as_text=True)[:200]
    return response.get_json()["error"]
