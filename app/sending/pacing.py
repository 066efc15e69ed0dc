"""The configured sending rate (``SEND_RATE`` messages/s), shared by every worker on any host.

Relays and ESPs throttle or block senders that exceed their allowance, so the limit is per
transport, not per worker: workers take numbered slots from a counter in Redis, one window at
a time. Redis holds only this counter; losing it costs one window of pacing, never a message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from flask import current_app

from app.queue import connection


@dataclass
class Pacer:
    client: redis.Redis | None
    rate: float  # messages per second; 0 means no limit
    key: str  # names the transport

    @property
    def window(self) -> float:
        """Seconds per window: one second, or longer for rates under one a second."""
        return max(1.0, 1.0 / self.rate)

    def wait(self) -> None:
        """Block until this worker may send one more message."""
        if not self.rate or self.client is None:
            return
        capacity = max(1, round(self.rate * self.window))
        while True:
            window = int(time.time() // self.window)
            key = f"kith:pace:{self.key}:{window}"
            pipe = self.client.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, int(self.window) + 5)
            taken, _ = pipe.execute()
            if taken <= capacity:
                return
            time.sleep(max((window + 1) * self.window - time.time(), 0.001))


def for_transport(transport) -> Pacer:
    """The pacer of ``transport`` under the configured ``SEND_RATE``."""
    rate = current_app.extensions["kith.settings"].send_rate
    key = f"{getattr(transport, 'host', 'outbox')}:{getattr(transport, 'port', 0)}"
    return Pacer(connection() if rate else None, rate, key)
