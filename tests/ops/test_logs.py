"""Structured logs: JSON lines on stderr with LOG_FORMAT=json, a request id on every request."""

from __future__ import annotations

import json
import logging
import re

import pytest

from app.ops import logs
from app.queue import enqueue, job
from tests.conftest import make_member, run_jobs, sign_in

job_log = logging.getLogger("tests.ops.jobs")


@job
def logged_job(send_id: int) -> None:
    job_log.warning("working on it")


@pytest.fixture
def app_overrides() -> dict:
    return {"log_format": "json"}


@pytest.fixture(autouse=True)
def restore_logging():
    """The JSON handler goes on the root logger: take it off again after each test."""
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if isinstance(h, logs._KithJSONHandler)]:
        root.removeHandler(handler)
    root.setLevel(level)


def json_lines(capsys) -> list[dict]:
    """Every stderr line so far; each must parse as a JSON object."""
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]


def access_lines(capsys) -> list[dict]:
    return [line for line in json_lines(capsys) if line["logger"] == "kith.request"]


def test_a_request_logs_one_json_line_with_its_id(client, capsys):
    response = client.get("/healthz", headers={"X-Request-ID": "edge-4f2a.1"})
    assert response.headers["X-Request-ID"] == "edge-4f2a.1"
    (line,) = access_lines(capsys)
    assert line["request_id"] == "edge-4f2a.1"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
    assert line["endpoint"] == "health.healthz" and line["level"] == "info"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert "member_id" not in line


@pytest.mark.parametrize("given", [None, "", "has spaces", "x" * 129, 'quote"d'])
def test_a_missing_or_unusable_request_id_is_replaced(client, capsys, given):
    headers = {} if given is None else {"X-Request-ID": given}
    response = client.get("/no-such-page", headers=headers)
    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    (line,) = access_lines(capsys)
    assert line["request_id"] == request_id and line["status"] == 404


def test_a_signed_in_members_id_is_logged(client, session, capsys):
    member = make_member(session)
    sign_in(client, member)
    client.get("/account")
    (line,) = access_lines(capsys)
    assert line["member_id"] == member.id


def test_lines_logged_inside_a_request_carry_its_id(app, capsys):
    @app.get("/ops-test-noisy")
    def noisy():
        logging.getLogger("tests.ops").warning("inside the request")
        return "ok"

    app.test_client().get("/ops-test-noisy", headers={"X-Request-ID": "abc"})
    inside = [line for line in json_lines(capsys) if line["message"] == "inside the request"]
    assert inside[0]["request_id"] == "abc" and inside[0]["level"] == "warning"


def test_worker_lines_carry_the_job_and_send_id(app, redis, capsys):
    with app.app_context():
        enqueue("tests.ops.test_logs.logged_job", 42, job_id="ops-log-job")
    run_jobs(app)
    (line,) = [line for line in json_lines(capsys) if line["message"] == "working on it"]
    assert line["job_id"] == "ops-log-job"
    assert line["send_id"] == 42 and line["job"] == "logged_job"


@pytest.mark.parametrize("app_overrides", [{"log_format": "plain"}])
def test_plain_format_writes_no_json_but_still_answers_with_an_id(client, capsys):
    response = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
    assert not any(isinstance(h, logs._KithJSONHandler) for h in logging.getLogger().handlers)
    assert '"request_id"' not in capsys.readouterr().err


def test_an_unknown_log_format_is_refused(tmp_path):
    from app import create_app

    with pytest.raises(ValueError, match="LOG_FORMAT must be one of plain, json"):
        create_app({"log_format": "xml", "instance_path": tmp_path})
