"""A small publication with one of everything, so every page has something real to render."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api import tokens
from app.discussions import boards, moderation
from app.discussions import service as discussions
from app.discussions.models import Board, Post, Thread
from app.issues import service as issues
from app.members import invites
from app.members.models import Invite, Member
from app.sending import service as sending
from app.webhooks import endpoints
from app.webhooks.models import EVENT_TYPES
from tests.conftest import make_member

PAID_BODY = (
    "# Bread\n\nThe open part, with a [link](https://example.org).\n\n<!-- more -->\n\nThe rest."
)


@dataclass
class Seeded:
    editor: Member
    member: Member
    issue_id: int
    slug: str
    paid_slug: str
    board: Board
    thread: Thread
    post: Post
    send_id: int
    invite: Invite
    endpoint_id: int


def seed(session: Session, base_url: str) -> Seeded:
    """Issues (public, paid, draft), a forum with a reported reply, a send, an invite, an API
    token and a webhook endpoint."""
    editor = make_member(session, email="editor@example.com", name="Edith", role="editor")
    member = make_member(session, email="free@example.com", name="Fay Reader", tier="free")
    make_member(session, email="paid@example.com", name="Pat Payer", tier="paid")
    public = issues.save_issue(
        session, {"title": "Starters", "body_markdown": "Feed it *daily*.", "visibility": "public"}
    )
    issues.publish(session, public)
    paid = issues.save_issue(
        session, {"title": "Crumb", "body_markdown": PAID_BODY, "visibility": "paid"}
    )
    issues.publish(session, paid)
    issues.save_issue(session, {"title": "A draft", "body_markdown": "Not yet."})
    boards.seed_demo(session, editor)
    board = session.scalars(select(Board).order_by(Board.position)).first()
    thread = discussions.issue_thread(session, public)
    post = discussions.create_post(session, member, thread, "Mine rose **twice**.")
    discussions.create_post(session, editor, thread, "Lovely.", parent_id=post.id)
    moderation.report_post(session, editor, post, "Testing the queue")
    send = sending.start_send(session, paid, "all")
    invite = invites.create(session, max_uses=5, note="For the bakers", created_by=editor)
    tokens.create(session, editor, name="Reports", scope="read")
    endpoint = endpoints.create(
        session,
        endpoints.Choice(url="https://hooks.example.org/kith", events=EVENT_TYPES[:2]),
        base_url=base_url,
    )
    session.commit()
    return Seeded(
        editor=editor, member=member, issue_id=paid.id, slug=public.slug, paid_slug=paid.slug,
        board=board, thread=thread, post=post, send_id=send.id, invite=invite,
        endpoint_id=endpoint.id,
    )  # fmt: skip
