"""Webhook fixtures: a real HTTP receiver on a free port that records every request and answers
as scripted (fail, hang, then recover), and an endpoint pointed at it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from app.webhooks import endpoints, jobs, service
from app.webhooks.models import EVENT_TYPES, WebhookDelivery, WebhookEndpoint, WebhookEvent


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver(ThreadingHTTPServer):
    """Answers each POST with the next scripted step: a status code, or ``"hang"`` (say
    nothing for ``hang_seconds``, longer than Kith waits). Unscripted requests get 200."""

    daemon_threads = True
    block_on_close = False  # a hanging handler must not hold up the test's teardown

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[Received] = []
        self.script: list[int | str] = []
        self.hang_seconds = 1.5
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"

    def answer(self, *steps: int | str) -> None:
        self.script.extend(steps)

    def next_step(self) -> int | str:
        with self.lock:
            return self.script.pop(0) if self.script else 200


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append(Received(self.path, dict(self.headers.items()), body))
        step = self.server.next_step()
        if step == "hang":
            time.sleep(self.server.hang_seconds)
            step = 200
        reply = b"thanks" if 200 <= step < 300 else f"receiver says {step}".encode()
        self.send_response(step)
        if 300 <= step < 400:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A receiver serving on its own thread until the block ends."""
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as server:
        yield server


@pytest.fixture
def app_overrides() -> dict:
    return {"WEBHOOK_TIMEOUT_SECONDS": 0.5}


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


def make_endpoint(session, url: str, events=EVENT_TYPES, *, active: bool = True):
    choice = endpoints.Choice(url=url, events=events, active=active)
    endpoint = endpoints.create(session, choice, base_url="http://localhost")
    session.commit()
    return endpoint


def switch(session, endpoint: WebhookEndpoint, *, active: bool) -> None:
    """Turn an endpoint off or on, as the editor's form does."""
    choice = endpoints.Choice(url=endpoint.url, events=endpoint.events, active=active)
    endpoints.update(session, endpoint.id, choice, base_url="http://localhost")
    session.commit()


@pytest.fixture
def endpoint(session, receiver) -> WebhookEndpoint:
    return make_endpoint(session, receiver.url)


def events(session, event_type: str | None = None) -> list[WebhookEvent]:
    query = select(WebhookEvent).order_by(WebhookEvent.created_at)
    if event_type is not None:
        query = query.where(WebhookEvent.type == event_type)
    return list(session.scalars(query))


def deliveries(session) -> list[WebhookDelivery]:
    session.expire_all()
    return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def try_due(app, session, *, now: datetime | None = None) -> list[str]:
    """One try of every delivery due at ``now``, as the delivery job makes it."""
    with app.app_context():
        due = service.due(session, now=now)
        return [jobs.attempt(delivery_id, now=now) for delivery_id, _ in due]
