"""The JSON the API answers with: members, issues, threads and posts as plain dicts.

Issue bodies go through ``members.access`` with the token's editor as the viewer, exactly as
a page would ask, so the API shows what the policy allows and nothing it does not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.discussions.models import Thread
from app.discussions.service import ShownPost
from app.issues.models import Issue
from app.members import access
from app.members.models import Member


def moment(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def columns(row: Any, plain: tuple[str, ...], moments: tuple[str, ...] = ()) -> dict[str, Any]:
    """``row``'s attributes by name, times as ISO 8601 (or None)."""
    values = {name: getattr(row, name) for name in plain}
    return values | {name: moment(getattr(row, name)) for name in moments}


MEMBER_COLUMNS = ("id", "email", "name", "role", "tier", "status", "source", "email_issues")
MEMBER_MOMENTS = (
    "created_at", "confirmed_at", "unsubscribed_at", "last_opened_at", "last_replied_at",
)  # fmt: skip
ISSUE_COLUMNS = (
    "id", "slug", "title", "subtitle", "excerpt", "visibility", "status", "email_only",
    "discussion", "mailed_replies", "feedback_choices", "word_count", "reading_minutes",
)  # fmt: skip
ISSUE_MOMENTS = ("published_at", "created_at", "updated_at")
THREAD_COLUMNS = (
    "id", "kind", "title", "issue_id", "author_id", "pinned", "locked", "hidden", "post_count",
)  # fmt: skip
POST_COLUMNS = ("id", "thread_id", "parent_id", "status", "private", "source", "is_answer")


def member(found: Member) -> dict[str, Any]:
    return columns(found, MEMBER_COLUMNS, MEMBER_MOMENTS) | {
        "tags": [tag.name for tag in found.tags],
        "fields": dict(found.fields or {}),
    }


def issue_summary(issue: Issue) -> dict[str, Any]:
    """An issue without its body: what lists show."""
    return columns(issue, ISSUE_COLUMNS, ISSUE_MOMENTS)


def issue(found: Issue, viewer: Any) -> dict[str, Any]:
    """An issue with the body ``viewer`` may read: all of it, or the teaser and no markdown."""
    full = access.can_read_full(viewer, found)
    return issue_summary(found) | {
        "gate": access.gate(viewer, found),
        "body_markdown": found.body_markdown if full else None,
        "body_html": access.readable_html(viewer, found),
    }


def thread(found: Thread) -> dict[str, Any]:
    return columns(found, THREAD_COLUMNS, ("created_at", "last_post_at")) | {
        "board": found.board.slug if found.board else None,
    }


def post(shown: ShownPost) -> dict[str, Any]:
    """A post as its viewer sees it, with its replies; a tombstone keeps no words."""
    found, author = shown.post, shown.post.author
    return columns(found, POST_COLUMNS, ("created_at", "edited_at")) | {
        "author": {"id": author.id, "name": author.name} if author else None,
        "body_markdown": "" if shown.tombstone else found.body_markdown,
        "body_html": "" if shown.tombstone else found.body_html,
        "reactions": dict(shown.reactions),
        "replies": [post(reply) for reply in shown.replies],
    }
