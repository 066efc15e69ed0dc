"""``kith inbound-smtp``: an SMTP (or LMTP) server for the return path, on aiosmtpd.

RCPT is answered from the address alone (``service.screen_recipient``): only ``bounce+``,
``reply+`` and ``unsubscribe+`` addresses at REPLY_DOMAIN with a valid token are taken, so
forged tokens and strangers are refused before any data is sent. DATA runs
``service.receive`` in a worker thread inside an app context, so a slow database never stalls
other connections, and answers with its outcome: a reply that may not be posted is a 550
5.7.1 with the reason, one from a member posting too fast a 450 (the sender's server tries
again later). A failure of Kith itself is a 451: the sender tries again.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP
from flask import Flask

from app.db import transaction
from app.inbound import service

log = logging.getLogger(__name__)

# outcome status → SMTP reply code and RFC 3463 enhanced status
SMTP_REPLIES = {
    service.RECORDED: "250 2.0.0",
    service.UNSUBSCRIBED: "250 2.0.0",
    service.DUPLICATE: "250 2.0.0",
    service.IGNORED: "250 2.0.0",
    service.POSTED: "250 2.0.0",
    service.REJECTED: "550 5.7.1",
    service.RATE_LIMITED: "450 4.7.1",
    service.INVALID_ADDRESS: "550 5.1.1",
    service.UNKNOWN_RECIPIENT: "550 5.1.1",
    service.UNPARSABLE: "550 5.6.0",
    service.TOO_LARGE: "552 5.3.4",
}
TEMPORARY_FAILURE = "451 4.3.0 Kith could not take this message just now; try again later."


def reply_line(outcome: service.Outcome) -> str:
    return f"{SMTP_REPLIES[outcome.status]} {outcome.detail}"


class InboundHandler:
    """aiosmtpd handler hooks: screen each recipient, then receive the message."""

    def __init__(self, app: Flask, *, lmtp: bool = False) -> None:
        self.app = app
        self.settings = app.extensions["kith.settings"]
        self.lmtp = lmtp

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = service.screen_recipient(self.settings, address)
        if refusal is not None:
            return reply_line(refusal)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        recipients = list(envelope.rcpt_tos)
        try:
            outcome = await asyncio.to_thread(
                self._receive, envelope.original_content, recipients, envelope.mail_from
            )
            line = reply_line(outcome)
        except Exception:  # noqa: BLE001 - any failure of ours must be temporary for the sender
            log.exception("inbound message to %s could not be received", recipients)
            line = TEMPORARY_FAILURE
        # LMTP answers DATA once per accepted recipient (RFC 2033 § 4.2).
        return "\r\n".join([line] * len(recipients)) if self.lmtp else line

    def _receive(self, raw: bytes, recipients: list[str], sender: str) -> service.Outcome:
        with self.app.app_context():
            with transaction(immediate=True) as session:
                outcome = service.receive(
                    session, self.settings, raw, recipients, envelope_sender=sender or ""
                )
            return service.after_commit(outcome)


class InboundController(Controller):
    """aiosmtpd's threaded Controller, speaking LMTP instead of SMTP when asked.

    The listening socket is bound in ``start`` itself: a port that is taken fails at once
    with the OS's reason, where aiosmtpd would wait out its start-up timeout first.
    """

    def __init__(self, app: Flask, *, host: str, port: int, lmtp: bool = False) -> None:
        self.lmtp = lmtp
        super().__init__(
            InboundHandler(app, lmtp=lmtp),
            hostname=host,
            port=port,
            server_hostname=app.extensions["kith.settings"].reply_domain,
            ident="Kith inbound",
            data_size_limit=service.MAX_MESSAGE_BYTES,
        )

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in (self.hostname or "") else socket.AF_INET
        try:
            self._socket = socket.create_server((self.hostname, self.port), family=family)
        except OSError:
            self.loop.close()
            raise
        super().start()

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self._socket)

    def factory(self) -> SMTP:
        server_class = LMTP if self.lmtp else SMTP
        return server_class(self.handler, **self.SMTP_kwargs)
