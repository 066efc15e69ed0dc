"""The route table: every rule in the URL map, classified by who may GET it and how its
state-changing methods are protected. A new route fails test_every_route_is_classified until
its author adds it here, so each new URL gets a moment's thought about access.
"""

from __future__ import annotations

from tests.security.conftest import ROLES

ANONYMOUS = ("anonymous", "pending")  # a pending member cannot sign in: an anonymous visitor


def everyone(status: int = 200) -> dict[str, set[int]]:
    return {role: {status} for role in ROLES}


def editors_only() -> dict[str, set[int]]:
    """editor_required: anonymous visitors go to sign in, signed-in non-editors get 403."""
    return {role: {302} if role in ANONYMOUS else {403} for role in ROLES} | {"editor": {200}}


def editors_only_missing() -> dict[str, set[int]]:
    """An admin page about a row that does not exist: refused before it is even looked up."""
    return editors_only() | {"editor": {404}}


def signed_in(status: int = 200) -> dict[str, set[int]]:
    return {role: {302} if role in ANONYMOUS else {status} for role in ROLES}


def bearer_only() -> dict[str, set[int]]:
    """/api/v1 takes a bearer token, never the session cookie."""
    return everyone(401)


def only(allowed: set[str], *, ok: int = 200, refused: int = 403) -> dict[str, set[int]]:
    return {
        role: {ok} if role in allowed else ({302} if role in ANONYMOUS else {refused})
        for role in ROLES
    }


# rule → (path with {world values}, allowed status codes per role)
GET_ROUTES: dict[str, tuple[str, dict[str, set[int]]]] = {
    "/": ("/", everyone()),
    "/archive": ("/archive", everyone()),
    "/issues/<slug>": ("/issues/{slug}", everyone()),
    "/feed.xml": ("/feed.xml", everyone()),
    "/feed.json": ("/feed.json", everyone()),
    "/sitemap.xml": ("/sitemap.xml", everyone()),
    "/robots.txt": ("/robots.txt", everyone()),
    "/search": ("/search?q=rye", everyone()),
    "/static/<path:filename>": ("/static/kith.css", everyone()),
    "/healthz": ("/healthz", everyone()),
    "/subscribe": ("/subscribe", everyone()),
    "/login": ("/login", everyone()),
    "/login/<token>": ("/login/{login_token}", everyone()),
    "/confirm/<token>": ("/confirm/{confirm_token}", everyone()),
    "/unsubscribe/<token>": ("/unsubscribe/{unsubscribe_token}", everyone()),
    "/feedback/<token>/<int:choice>": ("/feedback/{feedback_token}/1", everyone()),
    "/join/<code>": ("/join/{code}", everyone()),
    "/join/<code>/confirm/<token>": ("/join/{code}/confirm/{join_token}", everyone()),
    "/o/<token>.gif": ("/o/not-a-token.gif", everyone(400)),
    "/c/<token>/<int:position>": ("/c/not-a-token/0", everyone(400)),
    "/forum": ("/forum", everyone()),
    "/forum/search": ("/forum/search?q=first", everyone()),
    "/forum/<slug>": ("/forum/{board_slug}", everyone()),
    "/forum/<slug>/new": ("/forum/{board_slug}/new", signed_in() | {"suspended": {403}}),
    "/t/<int:thread_id>": ("/t/{thread_id}", everyone()),
    "/posts/<int:post_id>/edit": (
        "/posts/{post_id}/edit",
        only({"paid", "editor"}) | {role: {403} for role in ANONYMOUS},
    ),
    "/account": ("/account", signed_in()),
    "/account/export.json": ("/account/export.json", signed_in()),
    "/account/email/<token>": ("/account/email/not-a-token", everyone(400)),
    "/account/upgrade/return": ("/account/upgrade/return", signed_in()),
    "/account/upgrade/status.json": ("/account/upgrade/status.json", signed_in()),
    "/invite": ("/invite", signed_in()),
    "/api/v1/openapi.json": ("/api/v1/openapi.json", everyone()),
    "/api/v1/issues": ("/api/v1/issues", bearer_only()),
    "/api/v1/issues/<ref>": ("/api/v1/issues/{slug}", bearer_only()),
    "/api/v1/members": ("/api/v1/members", bearer_only()),
    "/api/v1/members/<int:member_id>": ("/api/v1/members/{member_id}", bearer_only()),
    "/api/v1/sends/<int:send_id>": ("/api/v1/sends/1", bearer_only()),
    "/api/v1/threads": ("/api/v1/threads", bearer_only()),
    "/api/v1/threads/<int:thread_id>/posts": ("/api/v1/threads/{thread_id}/posts", bearer_only()),
    "/admin/": ("/admin/", editors_only() | {"editor": {302}}),  # → /admin/issues
    "/admin/api-tokens": ("/admin/api-tokens", editors_only()),
    "/admin/audience/growth": ("/admin/audience/growth", editors_only()),
    "/admin/audience/growth.csv": ("/admin/audience/growth.csv", editors_only()),
    "/admin/boards": ("/admin/boards", editors_only()),
    "/admin/boards/<int:board_id>": ("/admin/boards/{board_id}", editors_only()),
    "/admin/boards/<int:board_id>/delete": ("/admin/boards/{board_id}/delete", editors_only()),
    "/admin/feedback": ("/admin/feedback", editors_only()),
    "/admin/feedback/<int:post_id>/answer": (
        "/admin/feedback/{feedback_id}/answer",
        editors_only(),
    ),
    "/admin/invites": ("/admin/invites", editors_only()),
    "/admin/invites/<int:invite_id>": ("/admin/invites/{invite_id}", editors_only()),
    "/admin/issues": ("/admin/issues", editors_only()),
    "/admin/issues/new": ("/admin/issues/new", editors_only()),
    "/admin/issues/<int:issue_id>": ("/admin/issues/{issue_id}", editors_only()),
    "/admin/issues/<int:issue_id>/send": ("/admin/issues/{issue_id}/send", editors_only()),
    "/admin/issues/<slug>/report": ("/admin/issues/{slug}/report", editors_only()),
    "/admin/issues/<slug>/report.csv": ("/admin/issues/{slug}/report.csv", editors_only()),
    "/admin/members": ("/admin/members", editors_only()),
    "/admin/members/new": ("/admin/members/new", editors_only()),
    "/admin/members/<int:member_id>": ("/admin/members/{member_id}", editors_only()),
    "/admin/moderation": ("/admin/moderation", editors_only()),
    "/admin/moderation/hidden": ("/admin/moderation/hidden", editors_only()),
    "/admin/moderation/log": ("/admin/moderation/log", editors_only()),
    "/admin/moderation/suspended": ("/admin/moderation/suspended", editors_only()),
    "/admin/moderation/posts/<int:post_id>/delete": (
        "/admin/moderation/posts/{post_id}/delete",
        editors_only(),
    ),
    "/admin/outbox": ("/admin/outbox", editors_only()),
    "/admin/outbox/<key>": ("/admin/outbox/no-such-message", editors_only_missing()),
    "/admin/outbox/<key>/html": ("/admin/outbox/no-such-message/html", editors_only_missing()),
    "/admin/segments": ("/admin/segments", editors_only()),
    "/admin/segments/count": ("/admin/segments/count?expression=all", editors_only()),
    "/admin/sends/<int:send_id>": ("/admin/sends/999999", editors_only_missing()),
    "/admin/sends/<int:send_id>.json": ("/admin/sends/999999.json", editors_only_missing()),
    "/admin/settings": ("/admin/settings", editors_only()),
    "/admin/settings/tracking": ("/admin/settings/tracking", editors_only()),
    "/admin/webhooks": ("/admin/webhooks", editors_only()),
    "/admin/webhooks/<int:endpoint_id>": ("/admin/webhooks/999999", editors_only_missing()),
    "/admin/webhooks/deliveries/<int:delivery_id>": (
        "/admin/webhooks/deliveries/999999",
        editors_only_missing(),
    ),
}

# The same rules again with gated rows: what a reader without access gets instead.
PAID_READERS = {"invite", "paid", "suspended", "editor"}
GATED_GETS: dict[str, dict[str, set[int]]] = {
    "/forum/{paid_board_slug}": {role: {200} if role in PAID_READERS else {403} for role in ROLES},
    "/forum/{members_board_slug}": {role: {403} if role in ANONYMOUS else {200} for role in ROLES},
    "/t/{paid_thread_id}": everyone(),  # an upgrade prompt instead of the posts
    "/issues/{members_slug}": everyone(),  # the teaser and a sign-in prompt
}

STATE_CHANGING: dict[tuple[str, str], str] = {}
