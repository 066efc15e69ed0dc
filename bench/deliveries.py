"""Stripe's half of a webhook delivery for bench/storm.py: deliveries queued by due time for
several client threads, each event signed when it is sent and POSTed on a fresh connection."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass(order=True)
class Delivery:
    due: float  # seconds after the storm's start
    order: int
    event: dict[str, Any] = field(compare=False)
    kind: str = field(default="first", compare=False)  # first | duplicate | retry


@dataclass
class Answer:
    delivery: Delivery
    status: int  # 0: the connection failed
    outcome: str
    seconds: float


class Schedule:
    """Deliveries by due time, shared by the client threads."""

    def __init__(self) -> None:
        self.heap: list[Delivery] = []
        self.ready = threading.Condition()
        self.closed = False
        self.count = 0
        self.start = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self.start

    def put(self, due: float, event: dict[str, Any], kind: str = "first") -> None:
        with self.ready:
            self.count += 1
            heapq.heappush(self.heap, Delivery(due, self.count, event, kind))
            self.ready.notify()

    def close(self) -> None:
        with self.ready:
            self.closed = True
            self.ready.notify_all()

    def take(self) -> Delivery | None:
        """The next delivery once it is due; None when closed and empty."""
        with self.ready:
            while True:
                if self.heap:
                    wait = self.heap[0].due - self.now()
                    if wait <= 0:
                        return heapq.heappop(self.heap)
                    self.ready.wait(wait)
                elif self.closed:
                    return None
                else:
                    self.ready.wait()


def signature(payload: bytes, secret: str) -> str:
    """Stripe's ``Stripe-Signature``: HMAC-SHA256 of ``{t}.{body}``, signed at delivery."""
    timestamp = int(time.time())
    signed = f"{timestamp}.".encode() + payload
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def deliver(base: str, delivery: Delivery, secret: str) -> Answer:
    """POST one event on a fresh connection, as Stripe does."""
    host = urlsplit(base)
    payload = json.dumps(delivery.event).encode()
    headers = {"Content-Type": "application/json; charset=utf-8",
               "Stripe-Signature": signature(payload, secret)}  # fmt: skip
    started = time.perf_counter()
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    try:
        connection.request("POST", "/webhooks/stripe", body=payload, headers=headers)
        response = connection.getresponse()
        status, outcome = response.status, response.read().decode().strip()[:60]
    except OSError as error:
        status, outcome = 0, type(error).__name__
    finally:
        connection.close()
    return Answer(delivery, status, outcome, time.perf_counter() - started)


def client(base: str, secret: str, schedule: Schedule, answers: list[Answer]) -> None:
    """One client thread: deliver what is due until the schedule is closed and empty."""
    while (delivery := schedule.take()) is not None:
        answers.append(deliver(base, delivery, secret))


def ok(answer: Answer) -> bool:
    return 200 <= answer.status < 300
