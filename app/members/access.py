"""Who may read what: the one gating policy every surface asks.

Pages, the feed, emails (their variant and web view), search and the API all call these
functions and never decide access themselves:

| issue visibility | who reads it in full |
| --- | --- |
| public | everyone |
| members | any member who confirmed their address (whatever their tier or mail settings) |
| paid | members of the paid tier, and invited members (a complimentary paid membership) |

Editors read everything. Everyone else gets the teaser (up to ``<!-- more -->``) or the
excerpt, and a paywall.
"""

from __future__ import annotations

from typing import Any

from app.issues.models import Issue


def _is_editor(viewer: Any) -> bool:
    return bool(getattr(viewer, "is_authenticated", False) and getattr(viewer, "is_editor", False))


FULL_ACCESS_TIERS = {"paid", "invite"}


def _is_member(viewer: Any) -> bool:
    """A signed-in member who confirmed their address (a pending one cannot sign in anyway)."""
    return bool(getattr(viewer, "is_authenticated", False)) and (
        getattr(viewer, "status", "pending") != "pending"
    )


def can_read_full(viewer: Any, issue: Issue) -> bool:
    """Whether ``viewer`` (a Member, flask-login's anonymous user, or None) may read all of
    ``issue``. Unknown visibilities are closed to everyone but editors."""
    if _is_editor(viewer) or issue.visibility == "public":
        return True
    if issue.visibility == "members":
        return _is_member(viewer)
    if issue.visibility == "paid":
        return _is_member(viewer) and getattr(viewer, "tier", "free") in FULL_ACCESS_TIERS
    return False


def gate(viewer: Any, issue: Issue) -> str | None:
    """What stands between ``viewer`` and the rest of ``issue``: None (nothing), "sign-in"
    (a members issue, or a paid one for someone not signed in) or "upgrade" (a paid issue
    for a signed-in member without a paid or invited membership)."""
    if can_read_full(viewer, issue):
        return None
    if issue.visibility == "paid" and _is_member(viewer):
        return "upgrade"
    return "sign-in"


def readable_html(viewer: Any, issue: Issue) -> str:
    """The issue body ``viewer`` may see: all of it, or only the teaser before the marker."""
    return issue.body_html if can_read_full(viewer, issue) else issue.teaser_html


def public_summary(issue: Issue) -> str:
    """Text safe to show anyone (meta tags, feed summaries): the excerpt, never the body."""
    return issue.excerpt or issue.subtitle
