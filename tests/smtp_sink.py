"""A real SMTP server (aiosmtpd) in the test process that records what it accepts and can
answer with injected faults: a 4xx or 5xx at RCPT or DATA, a stall, or a dropped connection.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.data)


@dataclass(frozen=True)
class Fault:
    stage: str  # "rcpt" or "data"
    reply: str | None = None  # e.g. "451 4.3.0 try later"; None with drop/stall
    drop: bool = False
    stall: float = 0.0


class _Handler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.faults: deque[Fault] = deque()
        self.connections = 0

    def _fault(self, stage: str) -> Fault | None:
        if self.faults and self.faults[0].stage == stage:
            return self.faults.popleft()
        return None

    async def _apply(self, fault: Fault, server) -> str | None:
        if fault.stall:
            await asyncio.sleep(fault.stall)
        if fault.drop:
            server.transport.close()  # the line goes dead: no reply reaches the client
            return "421 connection dropped"
        return fault.reply

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        fault = self._fault("rcpt")
        if fault:
            reply = await self._apply(fault, server)
            if reply and not reply.startswith("2"):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        fault = self._fault("data")
        if fault:
            reply = await self._apply(fault, server)
            if reply and not reply.startswith("2"):
                return reply
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SMTPSink:
    """``with SMTPSink() as sink:`` then send to ``sink.url``; read ``sink.received``."""

    def __init__(self) -> None:
        self.handler = _Handler()
        self.port = _free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def connections(self) -> int:
        return self.handler.connections

    def inject(self, *faults: Fault) -> None:
        self.handler.faults.extend(faults)

    def __enter__(self) -> SMTPSink:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
