"""Reply and answer notifications: the email for each ``Notification`` row the posting service
writes with a post (who gets one is decided there, in ``service._notify``).

Views call ``enqueue()`` after the commit that made a post; a job mails every unsent row
exactly once (see mailing.py) and the worker's maintenance re-queues rows still unsent after a
minute, so a flushed Redis or a down SMTP server delays mail but never loses it. A member who
stopped taking mail or turned replies off, or who may no longer read the thread, gets nothing;
the row is marked done all the same.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import utcnow
from app.discussions.mailing import NOTHING, TAKEN, Outgoing, one_line
from app.discussions.models import Notification, Post
from app.members import access, tokens
from app.members.models import Member
from app.queue import enqueue_once

NOTIFY_JOB = "app.discussions.jobs.send_notifications"
BATCH = 200  # rows per job; a fuller queue gets another job
STALE_AFTER = timedelta(minutes=1)  # unsent this long: the maintenance queues a job again
GIVE_UP_AFTER = timedelta(days=3)  # news this old is no news: marked done without mail


def enqueue() -> bool:
    """Queue the mail for every unsent notification. Call it after the posting commit.

    One run waits at most, on the ``notify`` queue (behind sign-in mail, ahead of issue
    sends): a busy conversation never fills the queues with a job per reply. False (logged)
    when Redis is down: the worker's maintenance sends them a minute later.
    """
    return enqueue_once(NOTIFY_JOB, queue_name="notify")


def unsent(
    session: Session, *, older_than: datetime | None = None, limit: int = BATCH
) -> list[int]:
    query = select(Notification.id).where(Notification.sent_at.is_(None))
    if older_than is not None:
        query = query.where(Notification.created_at < older_than)
    return list(session.scalars(query.order_by(Notification.id).limit(limit)))


def prepare(
    session: Session, notification_id: int, *, settings: Settings, now: datetime | None = None
) -> Outgoing | str:
    """Claim the row and say what to mail, NOTHING (marked done, no mail) or TAKEN."""
    now = now or utcnow()
    row = session.scalar(
        select(Notification)
        .where(Notification.id == notification_id, Notification.sent_at.is_(None))
        .with_for_update(skip_locked=True)
    )
    if row is None:
        return TAKEN
    row.sent_at = now
    member = session.get(Member, row.member_id)
    post = session.get(Post, row.post_id)
    if member is None or post is None or not _wanted(member, post, row, now):
        return NOTHING
    return _outgoing(settings, row, member, post)


def _wanted(member: Member, post: Post, row: Notification, now: datetime) -> bool:
    """Still worth a mail: the member takes mail and replies, the post is there, the member may
    still read the thread (a lapsed membership ends a paid thread's news), and it is recent.
    Privacy is settled when the row is written: a private post notifies only its member."""
    return (
        member.receives_mail
        and member.email_replies
        and post.status == "visible"
        and access.can_read_thread(member, post.thread)
        and now - row.created_at < GIVE_UP_AFTER
    )


def author_name(post: Post) -> str:
    author = post.author
    if author is None:
        return "A former member"
    if author.is_editor:
        return f"{author.name} (editor)" if author.name else "The editor"
    return author.name or "A member"


def _outgoing(settings: Settings, row: Notification, member: Member, post: Post) -> Outgoing:
    thread = post.thread
    title = thread.title or (thread.issue.title if thread.issue else "") or "a discussion"
    who = author_name(post)
    # A mailed answer continues the conversation: the reply goes under its top-level post.
    token = tokens.sign(
        settings, "reply", {"m": member.id, "t": thread.id, "p": post.parent_id or post.id}
    )
    verb = "answered you" if row.kind == "answer" else "replied"
    headline = one_line(f"{who} {verb} in “{title}”")
    return Outgoing(
        to_name=member.name,
        to_address=member.email,
        subject=headline,
        template="notification",
        context={
            "headline": headline,
            "private": post.private,
            "body_html": post.body_html,
            "body_text": post.body_markdown,
            "link": settings.url(f"/t/{thread.id}#post-{post.id}"),
        },
        headers={
            "Reply-To": f"reply+{token}@{settings.reply_domain}",
            # Mail clients group a thread's notifications under one conversation.
            "References": f"<thread-{thread.id}@{settings.reply_domain}>",
        },
    )
