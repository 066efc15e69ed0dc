"""Replies by email, handed to ``kith inbound-smtp`` as an MTA would (bench/soak.py).

Each message is from a member, to a real signed ``reply+`` address (an issue's, a topic's or a
post's, as Kith's own emails carry), with its own Message-ID; one in ``redeliver_every`` is
delivered a second time, as by an MTA that lost the 250. ``check`` then counts in the
database how many posts each accepted message became: exactly one is the promise.
"""

from __future__ import annotations

import smtplib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate

from sqlalchemy import func, select

from app.config import Settings
from app.db import transaction
from app.discussions.models import Post
from app.inbound.addresses import reply_address

MESSAGE_ID = "<soak-{}@mail.example.org>"


@dataclass(frozen=True)
class Writer:
    member_id: int
    email: str
    targets: tuple[dict[str, int], ...]  # what they may answer: ``reply_address`` keywords


@dataclass
class MailedReplies:
    """``total`` replies spread evenly over ``seconds``, round the writers."""

    settings: Settings
    port: int
    writers: list[Writer]
    total: int
    seconds: float
    redeliver_every: int
    accepted: list[str] = field(default_factory=list)  # Message-IDs answered 250
    redelivered: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, done: threading.Event) -> None:
        interval, started = self.seconds / self.total, time.monotonic()
        for n in range(self.total):
            if done.wait(max(0.0, started + n * interval - time.monotonic())):
                return
            message = self.message(n)
            if failed := deliver(self.port, message):
                with self.lock:
                    self.errors.append(f"mailed reply {n}: {failed}")
                continue
            with self.lock:
                self.accepted.append(message["Message-ID"])
            if n % self.redeliver_every == self.redeliver_every - 1:
                failed = deliver(self.port, message)
                with self.lock:
                    self.redelivered += 1
                    if failed:
                        self.errors.append(f"mailed reply {n}, again: {failed}")

    def message(self, n: int) -> EmailMessage:
        # Writers take turns; in each turn they answer different targets, moving one on per
        # turn, as readers spread over a forum do (all answering one post at once would mail
        # each earlier replier about each later reply: a burst no soak means to measure).
        number, turn = n % len(self.writers), n // len(self.writers)
        writer = self.writers[number]
        target = writer.targets[(number + turn) % len(writer.targets)]
        message = EmailMessage()
        message["From"] = writer.email
        message["To"] = reply_address(self.settings, writer.member_id, **target)
        message["Subject"] = "Re: Kitchen notes"
        message["Date"] = formatdate()
        message["Message-ID"] = MESSAGE_ID.format(n)
        message.set_content(
            f"Reply {n} by email: ours rose overnight at 18 degrees.\n\n"
            "On Monday, Edith wrote:\n> Opening words.\n"
        )
        return message

    def check(self) -> str:
        """The line saying what became of the replies (call in an app context)."""
        query = select(Post.message_id, func.count()).where(Post.message_id.like("<soak-%"))
        with transaction() as session:
            posted = Counter(dict(session.execute(query.group_by(Post.message_id)).all()))
        accepted = set(self.accepted)
        once = sum(1 for message_id in accepted if posted[message_id] == 1)
        more = sum(1 for message_id in accepted if posted[message_id] > 1)
        refused = sum(1 for message_id in posted if message_id not in accepted)
        return (
            f"replies by email: {self.total:,} to send, {len(accepted):,} accepted (250), "
            f"{once:,} posted once, {more:,} posted more than once, "
            f"{len(accepted) - once - more:,} not posted, {refused:,} posted but refused; "
            f"{self.redelivered:,} delivered twice"
        )


def deliver(port: int, message: EmailMessage) -> str:
    """Hand ``message`` to the inbound server on ``port``; "" when it answered 250."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as error:
        return f"{type(error).__name__}: {error}"
    return ""
