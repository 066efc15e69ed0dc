"""Transactional mail (sign-in links, confirmations): one template, one recipient, now.

Bulk issue mail has its own pipeline; this is for the single messages every domain sends.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import current_app

from app.config import Settings
from app.sending.emails import EmailTemplates, RenderedEmail
from app.sending.prepared import MAIL_POLICY, header_text
from app.sending.signing import BulkSigner, DKIMSigner
from app.sending.transport import MaildirTransport, SMTPTransport, transport_for


def build_message(
    settings: Settings,
    *,
    to: str,
    subject: str,
    body: RenderedEmail,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A multipart/alternative message: the plain-text part first, the HTML part preferred."""
    message = EmailMessage(policy=MAIL_POLICY)  # CRLF: smtplib sends bytes as they are
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = header_text(subject)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.reply_domain)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body.text)
    message.add_alternative(body.html, subtype="html")
    return message


def templates() -> EmailTemplates:
    return current_app.extensions["kith.emails"]


def transport() -> SMTPTransport | MaildirTransport:
    return current_app.extensions["kith.transport"]


def send_transactional(to: str, subject: str, template: str, /, **context: object) -> EmailMessage:
    """Render ``template`` for one recipient and hand it to the configured transport."""
    settings: Settings = current_app.extensions["kith.settings"]
    body = templates().render(template, **context)
    message = build_message(settings, to=to, subject=subject, body=body)
    with transport().connect() as connection:
        connection.send(settings.mail_from_address, [to], signed(message.as_bytes()))
    return message


def bulk_signer() -> BulkSigner | None:
    return current_app.extensions["kith.bulk_signer"]


def signed(raw: bytes) -> bytes:
    """``raw`` with a DKIM signature when DKIM is configured, else unchanged."""
    signer = current_app.extensions.get("kith.dkim")
    return signer.sign(raw) if signer is not None else raw


def init_app(app, settings: Settings) -> None:
    app.extensions["kith.emails"] = EmailTemplates.load(settings.emails_dir)
    app.extensions["kith.transport"] = transport_for(settings.smtp_url, settings.outbox_path)
    app.extensions["kith.dkim"] = DKIMSigner.from_settings(settings)  # a bad key stops start-up
    app.extensions["kith.bulk_signer"] = BulkSigner.from_signer(app.extensions["kith.dkim"])
