"""A real SMTP server (aiosmtpd) in the test process that records what it accepts and can
answer with injected faults: a 4xx or 5xx at RCPT or DATA, a stall, or a dropped connection.

Faults come in two kinds: ``inject`` queues faults for the next commands whatever their
recipient; ``fail_for`` aims one at named recipients, for their first N tries, so a test can
say exactly which rows must be retried, refused or left in doubt. ``down()``/``up()`` stop
and restart the server on the same port, and ``delay`` slows every message so a worker can be
killed mid-batch.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    at: float = field(default_factory=time.monotonic)
    peer: str = ""  # the client's address and port: one value per SMTP connection

    @property
    def message(self) -> EmailMessage:
        return BytesParser(policy=policy.default).parsebytes(self.data)


@dataclass(frozen=True)
class Fault:
    stage: str  # "greeting" or "ehlo" (queued with inject only), "rcpt" or "data"
    reply: str | None = None  # e.g. "451 4.3.0 try later"; None with drop/stall
    drop: bool = False
    stall: float = 0.0
    # DATA only: keep the message before the fault strikes, as a server does when only its
    # "250" is lost on the wire (RFC 1047): the sender cannot know it arrived.
    accept: bool = False


@dataclass(frozen=True)
class Answered:
    """A fault the sink answered: when, at which stage, to whom."""

    at: float
    stage: str
    recipient: str
    fault: Fault


class _Handler:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.faults: deque[Fault] = deque()
        self.connections = 0
        self.aimed: dict[tuple[str, str], tuple[Fault, int | None]] = {}
        self.answered: list[Answered] = []
        self.delay = 0.0

    def _fault(self, stage: str, recipient: str = "") -> Fault | None:
        if self.faults and self.faults[0].stage == stage:
            fault = self.faults.popleft()
        else:
            fault = self._aimed(stage, recipient)
        if fault:
            self.answered.append(Answered(time.monotonic(), stage, recipient, fault))
        return fault

    def _aimed(self, stage: str, recipient: str) -> Fault | None:
        fault, left = self.aimed.get((stage, recipient.lower()), (None, 0))
        if fault is None or left == 0:
            return None
        self.aimed[(stage, recipient.lower())] = (fault, None if left is None else left - 1)
        return fault

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
        fault = self._fault("ehlo")
        if fault:  # a server too busy to talk answers, then hangs up (RFC 5321 §3.8)
            if fault.reply:
                await server.push(fault.reply)
            server.transport.close()
            return []
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        fault = self._fault("rcpt", address)
        if fault:
            reply = await self._apply(fault, server)
            if reply and not reply.startswith("2"):
                return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        fault = self._fault("data", envelope.rcpt_tos[0] if envelope.rcpt_tos else "")
        received = Received(
            envelope.mail_from, list(envelope.rcpt_tos), envelope.content, peer=str(session.peer)
        )
        if fault:
            if fault.accept:
                self.received.append(received)
            reply = await self._apply(fault, server)
            if fault.accept or (reply and not reply.startswith("2")):
                return reply or "250 Message accepted"
        self.received.append(received)
        return "250 Message accepted"


class _Server(SMTP):
    """aiosmtpd's server, except that a queued "greeting" fault replaces its 220 banner."""

    greeted = False

    async def push(self, status: str) -> None:
        if not self.greeted:
            self.greeted = True
            fault = self.event_handler._fault("greeting")
            if fault:  # a server too busy to serve says so instead of 220, then hangs up
                await super().push(fault.reply or "421 4.3.2 service not available")
                self.transport.close()
                return
        await super().push(status)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _Server(self.handler, **self.SMTP_kwargs)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SMTPSink:
    """``with SMTPSink() as sink:`` then send to ``sink.url``; read ``sink.received``."""

    def __init__(self) -> None:
        self.handler = _Handler()
        self.port = _free_port()
        self.controller = _Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.running = False
        self.stopped_once = False  # a stopped Controller cannot start again: up() makes another

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

    def fail_for(self, recipients: Iterable[str], fault: Fault, *, times: int | None = 1) -> None:
        """Answer ``fault`` to each of ``recipients`` the first ``times`` times it reaches
        ``fault.stage`` (``None``: every time). Later tries go through."""
        for recipient in recipients:
            self.handler.aimed[(fault.stage, recipient.lower())] = (fault, times)

    @property
    def answered(self) -> list[Answered]:
        """Every fault the sink has answered so far, in order."""
        return list(self.handler.answered)

    @property
    def delay(self) -> float:
        return self.handler.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        """Wait this long before answering each message's DATA, as a slow relay does."""
        self.handler.delay = seconds

    def counts(self) -> Counter[str]:
        """How many copies each recipient has received."""
        return Counter(
            rcpt.lower() for message in list(self.received) for rcpt in message.recipients
        )

    def down(self) -> None:
        """Stop listening: connections are refused until ``up()``."""
        if self.running:
            self.controller.stop()
            self.running = False
            self.stopped_once = True

    def up(self) -> None:
        """Listen again on the same port, with the same record of what was received."""
        if self.running:
            return
        if self.stopped_once:
            self.controller = _Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        self.running = True

    def __enter__(self) -> SMTPSink:
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        self.down()
