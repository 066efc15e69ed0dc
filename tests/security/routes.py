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
    # Prometheus: a bearer METRICS_TOKEN, never the session; without the setting it is not there.
    "/metrics": ("/metrics", everyone(404)),
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

# (method, rule) → path: each needs the session's CSRF token (Flask-WTF's CSRFProtect).
CSRF_PROTECTED: dict[tuple[str, str], str] = {
    ("POST", rule): path
    for rule, path in {
        "/login": "/login",
        "/login/<token>": "/login/{login_token}",
        "/logout": "/logout",
        "/confirm/<token>": "/confirm/{confirm_token}",
        "/unsubscribe/<token>/resubscribe": "/unsubscribe/{unsubscribe_token}/resubscribe",
        "/join/<code>": "/join/{code}",
        "/join/<code>/redeem": "/join/{code}/redeem",
        "/join/<code>/confirm/<token>": "/join/{code}/confirm/{join_token}",
        "/invite": "/invite",
        "/account/profile": "/account/profile",
        "/account/preferences": "/account/preferences",
        "/account/email": "/account/email",
        "/account/email/<token>": "/account/email/not-a-token",
        "/account/delete": "/account/delete",
        "/account/upgrade": "/account/upgrade",
        "/account/billing": "/account/billing",
        "/t/<int:thread_id>/posts": "/t/{thread_id}/posts",
        "/t/<int:thread_id>/moderate": "/t/{thread_id}/moderate",
        "/posts/<int:post_id>/edit": "/posts/{post_id}/edit",
        "/posts/<int:post_id>/delete": "/posts/{post_id}/delete",
        "/posts/<int:post_id>/reactions": "/posts/{post_id}/reactions",
        "/posts/<int:post_id>/report": "/posts/{post_id}/report",
        "/posts/<int:post_id>/moderate": "/posts/{post_id}/moderate",
        "/forum/<slug>/new": "/forum/{board_slug}/new",
        "/forum/mark-read": "/forum/mark-read",
        "/forum/<slug>/mark-read": "/forum/{board_slug}/mark-read",
        "/admin/settings": "/admin/settings",
        "/admin/settings/prices": "/admin/settings/prices",
        "/admin/settings/tracking": "/admin/settings/tracking",
        "/admin/invites": "/admin/invites",
        "/admin/invites/<int:invite_id>/revoke": "/admin/invites/{invite_id}/revoke",
        "/admin/invites/friends": "/admin/invites/friends",
        "/admin/issues/new": "/admin/issues/new",
        "/admin/issues/<int:issue_id>": "/admin/issues/{issue_id}",
        "/admin/issues/<int:issue_id>/test": "/admin/issues/{issue_id}/test",
        "/admin/issues/<int:issue_id>/send": "/admin/issues/{issue_id}/send",
        "/admin/preview": "/admin/preview",
        "/admin/members/tags": "/admin/members/tags",
        "/admin/members/new": "/admin/members/new",
        "/admin/segments": "/admin/segments",
        "/admin/segments/<int:segment_id>/delete": "/admin/segments/1/delete",
        "/admin/sends/<int:send_id>/<any(pause, resume, cancel):action>": "/admin/sends/1/pause",
        "/admin/sends/<int:send_id>/reschedule": "/admin/sends/1/reschedule",
        "/admin/feedback/<int:post_id>/handled": "/admin/feedback/{feedback_id}/handled",
        "/admin/feedback/<int:post_id>/answer": "/admin/feedback/{feedback_id}/answer",
        "/admin/moderation/posts/<int:post_id>": "/admin/moderation/posts/{post_id}",
        "/admin/moderation/members/<int:member_id>/suspend": (
            "/admin/moderation/members/{member_id}/suspend"
        ),
        "/admin/moderation/members/<int:member_id>/lift": (
            "/admin/moderation/members/{member_id}/lift"
        ),
        "/admin/boards": "/admin/boards",
        "/admin/boards/<int:board_id>": "/admin/boards/{board_id}",
        "/admin/boards/<int:board_id>/move": "/admin/boards/{board_id}/move",
        "/admin/boards/<int:board_id>/delete": "/admin/boards/{board_id}/delete",
        "/admin/webhooks": "/admin/webhooks",
        "/admin/webhooks/<int:endpoint_id>": "/admin/webhooks/1",
        "/admin/webhooks/<int:endpoint_id>/<any(rotate, test, delete):button>": (
            "/admin/webhooks/1/delete"
        ),
        "/admin/webhooks/deliveries/<int:delivery_id>/retry": "/admin/webhooks/deliveries/1/retry",
        "/admin/audience/growth/refresh": "/admin/audience/growth/refresh",
        "/admin/api-tokens": "/admin/api-tokens",
        "/admin/api-tokens/<int:token_id>/revoke": "/admin/api-tokens/1/revoke",
    }.items()
}

API = "/api/v1"
# (method, rule) → (path, what authenticates it instead of a CSRF token, its answer without that).
EXEMPT: dict[tuple[str, str], tuple[str, str, set[int]]] = {
    ("POST", "/webhooks/stripe"): ("/webhooks/stripe", "Stripe-Signature HMAC", {400}),
    ("POST", "/inbound/email"): ("/inbound/email", "Bearer INBOUND_SECRET", {401}),
    ("POST", "/unsubscribe/<token>"): (
        "/unsubscribe/not-a-token",
        "the signed token in the URL (RFC 8058 one-click)",
        {400},
    ),
    ("POST", "/feedback/<token>/<int:choice>"): (
        "/feedback/not-a-token/1",
        "the signed token in the URL",
        {400},
    ),
    ("POST", "/subscribe"): (
        "/subscribe",
        "a signed, dated form token and the Origin check (no session to forge)",
        {400},
    ),
    **{
        (method, rule): (path, "Bearer API token; no cookie is read", {401})
        for method, rule, path in (
            ("POST", f"{API}/issues", f"{API}/issues"),
            ("PATCH", f"{API}/issues/<ref>", f"{API}/issues/{{slug}}"),
            ("POST", f"{API}/issues/<ref>/publish", f"{API}/issues/{{slug}}/publish"),
            ("POST", f"{API}/issues/<ref>/sends", f"{API}/issues/{{slug}}/sends"),
            ("POST", f"{API}/members", f"{API}/members"),
            ("PATCH", f"{API}/members/<int:member_id>", f"{API}/members/{{member_id}}"),
            ("POST", f"{API}/members/<int:member_id>/tags", f"{API}/members/{{member_id}}/tags"),
            (
                "DELETE",
                f"{API}/members/<int:member_id>/tags/<path:tag>",
                f"{API}/members/{{member_id}}/tags/vip",
            ),
            ("POST", f"{API}/segments/count", f"{API}/segments/count"),
        )
    },
}

STATE_CHANGING = {**CSRF_PROTECTED, **{key: path for key, (path, _, _) in EXEMPT.items()}}
