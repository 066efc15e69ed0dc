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


def member(found: Member) -> dict[str, Any]:
    return {
        "id": found.id,
        "email": found.email,
        "name": found.name,
        "role": found.role,
        "tier": found.tier,
        "status": found.status,
        "source": found.source,
        "tags": [tag.name for tag in found.tags],
        "fields": dict(found.fields or {}),
        "email_issues": found.email_issues,
        "created_at": moment(found.created_at),
        "confirmed_at": moment(found.confirmed_at),
        "unsubscribed_at": moment(found.unsubscribed_at),
        "last_opened_at": moment(found.last_opened_at),
        "last_replied_at": moment(found.last_replied_at),
    }


def issue_summary(issue: Issue) -> dict[str, Any]:
    """An issue without its body: what lists show."""
    return {
        "id": issue.id,
        "slug": issue.slug,
        "title": issue.title,
        "subtitle": issue.subtitle,
        "excerpt": issue.excerpt,
        "visibility": issue.visibility,
        "status": issue.status,
        "email_only": issue.email_only,
        "discussion": issue.discussion,
        "mailed_replies": issue.mailed_replies,
        "feedback_choices": issue.feedback_choices,
        "word_count": issue.word_count,
        "reading_minutes": issue.reading_minutes,
        "published_at": moment(issue.published_at),
        "created_at": moment(issue.created_at),
        "updated_at": moment(issue.updated_at),
    }


def issue(found: Issue, viewer: Any) -> dict[str, Any]:
    """An issue with the body ``viewer`` may read: all of it, or the teaser and no markdown."""
    full = access.can_read_full(viewer, found)
    return {
        **issue_summary(found),
        "gate": access.gate(viewer, found),
        "body_markdown": found.body_markdown if full else None,
        "body_html": access.readable_html(viewer, found),
    }


def thread(found: Thread) -> dict[str, Any]:
    return {
        "id": found.id,
        "kind": found.kind,
        "title": found.title,
        "issue_id": found.issue_id,
        "board": found.board.slug if found.board else None,
        "author_id": found.author_id,
        "pinned": found.pinned,
        "locked": found.locked,
        "hidden": found.hidden,
        "post_count": found.post_count,
        "created_at": moment(found.created_at),
        "last_post_at": moment(found.last_post_at),
    }


def post(shown: ShownPost) -> dict[str, Any]:
    """A post as its viewer sees it, with its replies; a tombstone keeps no words."""
    found = shown.post
    author = found.author
    return {
        "id": found.id,
        "thread_id": found.thread_id,
        "parent_id": found.parent_id,
        "author": {"id": author.id, "name": author.name} if author else None,
        "status": found.status,
        "private": found.private,
        "source": found.source,
        "is_answer": found.is_answer,
        "body_markdown": "" if shown.tombstone else found.body_markdown,
        "body_html": "" if shown.tombstone else found.body_html,
        "reactions": dict(shown.reactions),
        "created_at": moment(found.created_at),
        "edited_at": moment(found.edited_at),
        "replies": [post(reply) for reply in shown.replies],
    }
