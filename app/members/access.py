"""Who may read what: the one gating policy every surface asks.

Pages, the feed, emails' web views, search and the API all call these functions and never
decide access themselves. Until paid and invite membership exist, only public issues are
readable in full by readers; editors read everything.
"""

from __future__ import annotations

from typing import Any

from app.issues.models import Issue


def _is_editor(viewer: Any) -> bool:
    return bool(getattr(viewer, "is_authenticated", False) and getattr(viewer, "is_editor", False))


def can_read_full(viewer: Any, issue: Issue) -> bool:
    """Whether ``viewer`` (a Member, or flask-login's anonymous user) may read all of ``issue``."""
    if _is_editor(viewer):
        return True
    return issue.visibility == "public"


def readable_html(viewer: Any, issue: Issue) -> str:
    """The issue body ``viewer`` may see: all of it, or only the teaser before the marker."""
    return issue.body_html if can_read_full(viewer, issue) else issue.teaser_html


def public_summary(issue: Issue) -> str:
    """Text safe to show anyone (meta tags, feed summaries): the excerpt, never the body."""
    return issue.excerpt or issue.subtitle
