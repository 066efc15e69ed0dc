"""What one viewer sees of a thread, on its own page (``/t/<id>``) and under an issue.

Both pages ask this module, and it asks ``members.access`` and the service, so the issue page
and the thread page never disagree about who sees which post or who may write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.discussions import service
from app.discussions.models import REACTIONS, Post, Reaction, Thread
from app.discussions.service import ShownPost
from app.issues import service as issues
from app.issues.models import Issue
from app.members import access

# The post gates under which ``service.toggle_reaction`` refuses: the buttons are not offered.
NO_REACTIONS = ("sign-in", "upgrade", "off", "suspended")


@dataclass
class ThreadView:
    """A thread as one viewer meets it: whether they read its posts, what stops them posting."""

    thread: Thread
    readable: bool
    gate: str | None  # access.post_gate's word, None when they may post
    posts: list[ShownPost] = field(default_factory=list)
    viewer_id: int | None = None
    is_editor: bool = False
    suspended_until: datetime | None = None

    @property
    def title(self) -> str:
        return thread_title(self.thread)

    reactions = REACTIONS  # kind → emoji, in the order the buttons show
    max_body = service.MAX_BODY

    @property
    def can_react(self) -> bool:
        return self.readable and self.viewer_id is not None and self.gate not in NO_REACTIONS

    def can_reply_to(self, post: Post) -> bool:
        return self.gate is None and replyable(post)

    @property
    def reply_targets(self) -> set[int]:
        """The posts whose "Reply" form this viewer gets."""
        shown = (item.post for top in self.posts for item in (top, *top.replies))
        return {post.id for post in shown if self.can_reply_to(post)}


def replyable(post: Post) -> bool:
    """Replies go under posts every reader of the thread sees: under a private or hidden one
    they would hang under nothing for everyone else."""
    return post.status == "visible" and not post.private


def thread_title(thread: Thread) -> str:
    """An issue's thread is called after the issue (its title may have changed since)."""
    return thread.issue.title if thread.issue is not None else thread.title


def _signed_in(viewer: Any) -> bool:
    return bool(getattr(viewer, "is_authenticated", False))


def _editor(viewer: Any) -> bool:
    return _signed_in(viewer) and bool(getattr(viewer, "is_editor", False))


def findable(session: Session, viewer: Any, thread: Thread | None) -> bool:
    """Whether ``viewer`` may learn that ``thread`` exists; if not, every route answers 404.

    Hidden threads, turned-off discussions and threads of issues not on the web (drafts,
    scheduled, email-only) exist for editors only. A thread that is merely gated (a members or
    paid issue, a members or paid board) is findable: its page says how to get in.
    """
    if thread is None or _editor(viewer):
        return thread is not None
    issue = thread.issue
    closed = thread.hidden or (issue is not None and issue.discussion == "off")
    return not closed and (issue is None or _on_the_web(session, issue))


def _on_the_web(session: Session, issue: Issue) -> bool:
    return issues.published_by_slug(session, issue.slug) is not None


def thread_view(
    session: Session, viewer: Any, thread: Thread, *, with_posts: bool = True
) -> ThreadView:
    """The thread as ``viewer`` sees it; posts only when they may read it."""
    readable = access.can_read_thread(viewer, thread)
    signed_in = _signed_in(viewer)
    return ThreadView(
        thread=thread,
        readable=readable,
        gate=access.post_gate(viewer, thread),
        posts=service.shown_posts(session, viewer, thread) if readable and with_posts else [],
        viewer_id=viewer.id if signed_in else None,
        is_editor=_editor(viewer),
        suspended_until=getattr(viewer, "posting_suspended_until", None) if signed_in else None,
    )


def open_thread(session: Session, viewer: Any, thread: Thread) -> ThreadView:
    """The thread as ``viewer`` reads it now: a signed-in reader has read everything in it."""
    view = thread_view(session, viewer, thread, with_posts=True)
    if view.readable and view.viewer_id is not None:
        service.mark_read(session, viewer, thread)
    return view


def issue_discussion(session: Session, viewer: Any, issue: Issue) -> ThreadView | None:
    """The discussion section under an issue, or None when there is none to show (turned off,
    or a thread an editor hid). Anonymous pages are cached: they get the count, not the posts."""
    if issue.discussion == "off":
        return None
    thread = service.issue_thread(session, issue)
    if not findable(session, viewer, thread):
        return None
    if not _signed_in(viewer):
        return thread_view(session, viewer, thread, with_posts=False)
    return open_thread(session, viewer, thread)


def reaction_count(session: Session, post_id: int, kind: str) -> int:
    """How many members reacted to a post with ``kind`` (for the in-place update of a button)."""
    query = select(func.count()).where(Reaction.post_id == post_id, Reaction.kind == kind)
    return session.scalar(query) or 0
