"""Helpers for the thread web tests: one issue of each visibility with posts in its thread,
requests as each kind of viewer, and a snapshot that shows whether anything was written."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from app.discussions import service
from app.discussions.models import ModerationAction, Post, PostReport, Reaction, Thread
from app.issues.models import Issue
from tests.conftest import csrf_token, sign_in
from tests.discussions.conftest import publish_issue

VIEWERS = ("anonymous", "pending", "free", "paid", "invite", "editor")
VISIBILITIES = ("public", "members", "paid")
SIGNED_IN = {"free", "paid", "invite", "editor"}  # a pending member cannot sign in
READERS = {
    "public": set(VIEWERS),
    "members": {"free", "paid", "invite", "editor"},
    "paid": {"paid", "invite", "editor"},
}
PRIVATE_READERS = {"paid", "editor"}  # the author of the private feedback, and editors


@dataclass
class Place:
    """An issue's thread with a visible post and a private feedback post, both by ``paid``."""

    issue: Issue
    thread: Thread
    post: Post
    private: Post

    @property
    def words(self) -> str:
        return self.post.body_markdown

    @property
    def secret(self) -> str:
        return self.private.body_markdown


def build_place(session, people, visibility: str, **issue_values) -> Place:
    values = {"title": f"Bread for {visibility}", "visibility": visibility} | issue_values
    issue = publish_issue(session, **values)
    thread = service.issue_thread(session, issue)
    post = service.create_post(session, people["paid"], thread, f"Crumb notes for {visibility}.")
    private = service.create_post(
        session, people["paid"], thread, f"Only the editor reads this {visibility} secret.",
        private=True,
    )  # fmt: skip
    session.commit()
    return Place(issue, thread, post, private)


def as_viewer(client, people, who: str):
    """``client`` signed in as ``who`` (a pending member's session signs no one in)."""
    if who != "anonymous":
        sign_in(client, people[who])
    return client


def form_token(client, who: str) -> str:
    """A CSRF token for ``client`` from a page every such viewer can open."""
    return csrf_token(client, "/account" if who in SIGNED_IN else "/login")


def snapshot(session) -> tuple:
    """Everything the thread routes can change; equal snapshots mean nothing was written."""
    session.expire_all()
    posts = session.execute(
        select(Post.id, Post.parent_id, Post.body_markdown, Post.status, Post.edited_at).order_by(
            Post.id
        )
    ).all()
    threads = session.execute(
        select(Thread.id, Thread.locked, Thread.pinned, Thread.hidden, Thread.post_count)
    ).all()
    counts = [
        session.scalar(select(func.count()).select_from(model))
        for model in (Reaction, PostReport, ModerationAction)
    ]
    return tuple(posts), tuple(sorted(threads)), tuple(counts)


def text(response) -> str:
    return response.get_data(as_text=True)
