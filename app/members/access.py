"""Who may read what: the one gating policy every surface asks.

Pages, the feed, emails (their variant and web view), search and the API all call these
functions and never decide access themselves:

| issue visibility | who reads it in full |
| --- | --- |
| public | everyone |
| members | any member who confirmed their address (whatever their tier or mail settings) |
| paid | members of the paid tier, and invited members (a complimentary paid membership) |

Editors read everything. Everyone else gets the teaser (up to ``<!-- more -->``) or the
excerpt, and a paywall. Discussions (issue threads, forum boards, posts) are decided here too:
see the second table below.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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


# --- discussions: issue threads, forum boards and posts ---------------------------------------
#
# | place | who reads it | who posts |
# | --- | --- | --- |
# | an issue's thread | whoever reads the issue in full | its discussion setting (below) |
# | a `public` board | everyone | members |
# | a `members` board | members | members |
# | a `paid` board | paid and invited members | the same |
#
# An issue's discussion setting: `members` → its full readers post; `paid` → paid and invited
# members post; `off` → no thread at all. Editors read and post everywhere. A locked thread
# takes posts from editors only; a suspended member reads but does not post; a hidden thread
# is for editors only.


def _has_full_tier(viewer: Any) -> bool:
    return _is_member(viewer) and getattr(viewer, "tier", "free") in FULL_ACCESS_TIERS


def can_read_board(viewer: Any, board: Any) -> bool:
    if _is_editor(viewer) or board.access == "public":
        return True
    if board.access == "members":
        return _is_member(viewer)
    if board.access == "paid":
        return _has_full_tier(viewer)
    return False


def can_read_thread(viewer: Any, thread: Any) -> bool:
    """Whether ``viewer`` may read ``thread``'s posts (a Thread with its issue or board)."""
    if _is_editor(viewer):
        return True
    if thread.hidden:
        return False
    if thread.kind == "issue":
        issue = thread.issue
        return issue.discussion != "off" and can_read_full(viewer, issue)
    return can_read_board(viewer, thread.board)


def post_gate(viewer: Any, thread: Any, *, now: datetime | None = None) -> str | None:
    """What stops ``viewer`` posting in ``thread``: None (nothing), "sign-in", "upgrade",
    "off" (discussion turned off), "locked" or "suspended"."""
    if _is_editor(viewer):
        return None
    if thread.kind == "issue" and thread.issue.discussion == "off":
        return "off"
    if not _is_member(viewer):
        return "sign-in"
    if not can_read_thread(viewer, thread):
        return "upgrade"
    if thread.kind == "issue" and thread.issue.discussion == "paid" and not _has_full_tier(viewer):
        return "upgrade"
    if thread.locked:
        return "locked"
    if is_suspended(viewer, now=now):
        return "suspended"
    return None


def is_suspended(viewer: Any, *, now: datetime | None = None) -> bool:
    until = getattr(viewer, "posting_suspended_until", None)
    return until is not None and until > (now or datetime.now(UTC))


def can_see_post(viewer: Any, post: Any) -> bool:
    """A private post (feedback for the editor) is for editors, its author and — when it
    answers a private post — that post's author: a private conversation between a member and
    the editor. A hidden post is for editors and its author (who is told it is hidden).
    Deleted posts show as tombstones."""
    if _is_editor(viewer):
        return True
    if not _is_member(viewer):
        return not post.private and post.status != "hidden"
    viewer_id = getattr(viewer, "id", None)
    own = post.author_id == viewer_id
    if post.status == "hidden":
        return own
    if post.private:
        parent = post.parent
        return own or (parent is not None and parent.private and parent.author_id == viewer_id)
    return True


EDIT_WINDOW = timedelta(minutes=15)


def can_edit_post(viewer: Any, post: Any, *, now: datetime | None = None) -> bool:
    """Authors edit their own visible posts for ``EDIT_WINDOW`` while they may still post
    there; editors edit any time."""
    if _is_editor(viewer):
        return True
    if not _is_member(viewer) or post.author_id != getattr(viewer, "id", None):
        return False
    if post.status != "visible" or post_gate(viewer, post.thread, now=now) is not None:
        return False
    return (now or datetime.now(UTC)) - post.created_at <= EDIT_WINDOW
