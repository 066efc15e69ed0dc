"""Structured logs: with ``LOG_FORMAT=json`` every line on stderr is one JSON object.

Each request gets an id (a sane ``X-Request-ID`` from the proxy is kept, else a new one),
echoed in the response header and attached to every line logged while it runs, with the
signed-in member's id; a worker's lines carry the RQ job id and, for sending jobs, the send
id. A log aggregator can then follow one request or one send across web nodes and workers.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from flask import Flask, g, request
from flask.wrappers import Response

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's id is kept only if it is short and plain: it goes into logs and a header.
USABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Fields a caller may pass with ``extra=``; written as they are.
EXTRA_FIELDS = ("method", "path", "status", "duration_ms", "endpoint")

_NOTHING: Mapping[str, Any] = MappingProxyType({})
_context: ContextVar[Mapping[str, Any]] = ContextVar("kith_log_context", default=_NOTHING)
access_log = logging.getLogger("kith.request")


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Attach ``fields`` to every line logged inside the block (this thread/task only)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, context and extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in _context.get().items() if v is not None})
        line.update({k: getattr(record, k) for k in EXTRA_FIELDS if hasattr(record, k)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class _KithJSONHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a line is logged (a test may capture it);
    the type marks the handler this module installed, so a second app replaces it."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure(log_format: str) -> None:
    """Install the JSON handler on the root logger (idempotent); "plain" changes nothing."""
    if log_format != "json":
        return
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _KithJSONHandler)]:
        root.removeHandler(handler)
    handler = _KithJSONHandler()
    handler.setFormatter(JSONFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _request_id() -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if USABLE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _member_id() -> int | None:
    """The signed-in member, if this request loaded one: never a query of its own (the
    database may be what just failed)."""
    user = g.get("_login_user")  # where flask-login keeps the user it loaded
    return user.id if getattr(user, "is_authenticated", False) else None


def init_app(app: Flask, log_format: str) -> None:
    """Give every request an id and a timing, and log one access line per response."""
    configure(log_format)

    @app.before_request
    def _start() -> None:
        g.request_id = _request_id()
        g.request_started = time.perf_counter()
        g.log_context = _context.set({**_context.get(), "request_id": g.request_id})

    @app.after_request
    def _finish(response: Response) -> Response:
        if "request_id" not in g:  # a response made before _start (e.g. a routing 405)
            return response
        response.headers[REQUEST_ID_HEADER] = g.request_id
        duration = time.perf_counter() - g.request_started
        with log_context(member_id=_member_id()):
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(duration * 1000, 2),
                    "endpoint": request.endpoint or "none",
                },
            )
        return response

    @app.teardown_request
    def _reset(_error: BaseException | None) -> None:
        token = g.pop("log_context", None)
        if token is not None:
            _context.reset(token)


@contextmanager
def job_context(func: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Iterator[None]:
    """Attach the RQ job id, the job's name and its ``send_id`` argument, if it has one."""
    from rq import get_current_job

    job = get_current_job()
    try:
        send_id = inspect.signature(func).bind_partial(*args, **kwargs).arguments.get("send_id")
    except TypeError:
        send_id = None
    with log_context(job_id=job.id if job else None, job=func.__name__, send_id=send_id):
        yield
