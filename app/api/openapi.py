"""The OpenAPI 3.1 description of ``/api/v1``, kept here as one dict and served as
``/api/v1/openapi.json``. A test checks that it names every route of the API and no other,
with the scope each needs, and schemathesis checks the answers against it."""

from __future__ import annotations

from typing import Any

from app.api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.issues.models import DISCUSSION_SETTINGS, MAILED_REPLIES, VISIBILITIES
from app.members.models import ROLES, SOURCES, STATUSES, TIERS

Schema = dict[str, Any]
TEXT: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
MOMENT: Schema = {"type": ["string", "null"], "format": "date-time"}
OPTIONAL_TEXT: Schema = {"type": ["string", "null"]}
OPTIONAL_ID: Schema = {"type": ["integer", "null"]}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def text(max_length: int, **extra: Any) -> Schema:
    return {"type": "string", "maxLength": max_length, **extra}


def choice(values: tuple[str, ...], **extra: Any) -> Schema:
    return {"type": "string", "enum": list(values), **extra}


def record(properties: dict[str, Schema], *, required: tuple[str, ...] | None = None) -> Schema:
    """An object schema; answers list every property as required unless told otherwise."""
    names = list(properties) if required is None else list(required)
    return {"type": "object", "properties": properties, "required": names}


def request_record(properties: dict[str, Schema], *required: str) -> Schema:
    """A request body: only these fields, ``required`` ones must be there."""
    return {**record(properties, required=required), "additionalProperties": False}


def listing(item: str) -> Schema:
    return record({"data": {"type": "array", "items": ref(item)}, "next_cursor": OPTIONAL_TEXT})


MEMBER = record(
    {
        "id": INTEGER, "email": TEXT, "name": TEXT, "role": choice(ROLES),
        "tier": choice(TIERS), "status": choice(STATUSES), "source": choice(SOURCES),
        "tags": {"type": "array", "items": TEXT},
        "fields": {"type": "object", "additionalProperties": TEXT},
        "email_issues": BOOLEAN, "created_at": MOMENT, "confirmed_at": MOMENT,
        "unsubscribed_at": MOMENT, "last_opened_at": MOMENT, "last_replied_at": MOMENT,
    }
)  # fmt: skip
FIELDS = {"type": "object", "maxProperties": 50, "propertyNames": text(500, minLength=1)}
MEMBER_CREATE = request_record(
    {
        "email": text(320, format="email"),
        "name": text(200),
        "tier": choice(TIERS),
        "tags": {"type": "array", "maxItems": 100, "items": text(100, minLength=1)},
        "fields": {**FIELDS, "additionalProperties": text(500)},
    },
    "email",
)
MEMBER_UPDATE = request_record(
    {
        "name": text(200),
        "tier": choice(TIERS),
        "status": choice(("unsubscribed",), description="The only status the API may set."),
        "fields": {
            **FIELDS,
            "additionalProperties": {"type": ["string", "null"], "maxLength": 500},
            "description": "Merged into the member's fields; null removes one.",
        },
    }
)
TAGS = request_record(
    {"tags": {"type": "array", "minItems": 1, "maxItems": 100, "items": text(100, minLength=1)}},
    "tags",
)

ISSUE_FIELDS: dict[str, Schema] = {
    "id": INTEGER, "slug": TEXT, "title": TEXT, "subtitle": TEXT, "excerpt": TEXT,
    "visibility": choice(VISIBILITIES), "status": choice(("draft", "published")),
    "email_only": BOOLEAN, "discussion": choice(DISCUSSION_SETTINGS),
    "mailed_replies": choice(MAILED_REPLIES), "feedback_choices": INTEGER,
    "word_count": INTEGER, "reading_minutes": INTEGER, "published_at": MOMENT,
    "created_at": MOMENT, "updated_at": MOMENT,
}  # fmt: skip
ISSUE_SUMMARY = record(ISSUE_FIELDS)
ISSUE = record(
    {
        **ISSUE_FIELDS,
        "gate": {**OPTIONAL_TEXT, "description": "What stands between the viewer and the body."},
        "body_markdown": {**OPTIONAL_TEXT, "description": "null when the viewer may not read it"},
        "body_html": {**TEXT, "description": "All of it, or the teaser, per the access policy."},
    }
)
ISSUE_WRITE = request_record(
    {
        "title": text(300), "subtitle": text(300),
        "slug": text(120, description="Lower-case letters, digits, single hyphens."),
        "excerpt": text(2_000), "body_markdown": text(400_000),
        "visibility": choice(VISIBILITIES), "discussion": choice(DISCUSSION_SETTINGS),
        "mailed_replies": choice(MAILED_REPLIES), "email_only": BOOLEAN,
        "feedback_choices": {"type": "integer", "enum": [0, 3, 5]},
    }
)  # fmt: skip
SEND = record(
    {
        "id": INTEGER, "issue_id": INTEGER, "expression": TEXT,
        "status": choice(("scheduled", "sending", "paused", "cancelled", "done")),
        "counts": record({name: INTEGER for name in (
            "pending", "sent", "failed", "bounced", "skipped", "uncertain")}),
        "total": INTEGER, "percent": INTEGER, "rate": {"type": "number"},
        "seconds_left": OPTIONAL_ID, "scheduled_at": MOMENT, "started_at": MOMENT,
        "finished_at": MOMENT, "resume_at": MOMENT, "paused_reason": TEXT,
        "actions": {"type": "array", "items": TEXT}, "live": BOOLEAN,
        "display": {"type": "object", "additionalProperties": TEXT},
    }
)  # fmt: skip
THREAD = record(
    {
        "id": INTEGER, "kind": choice(("issue", "topic")), "title": TEXT,
        "issue_id": OPTIONAL_ID, "board": OPTIONAL_TEXT, "author_id": OPTIONAL_ID,
        "pinned": BOOLEAN, "locked": BOOLEAN, "hidden": BOOLEAN, "post_count": INTEGER,
        "created_at": MOMENT, "last_post_at": MOMENT,
    }
)  # fmt: skip
POST = record(
    {
        "id": INTEGER, "thread_id": INTEGER, "parent_id": OPTIONAL_ID,
        "author": {"oneOf": [{"type": "null"}, record({"id": INTEGER, "name": TEXT})]},
        "status": choice(("visible", "hidden", "deleted")), "private": BOOLEAN,
        "source": choice(("web", "email")), "is_answer": BOOLEAN,
        "body_markdown": TEXT, "body_html": TEXT,
        "reactions": {"type": "object", "additionalProperties": INTEGER},
        "created_at": MOMENT, "edited_at": MOMENT,
        "replies": {"type": "array", "items": ref("Post")},
    }
)  # fmt: skip
ERROR = record(
    {
        "error": record(
            {
                "code": TEXT,
                "message": TEXT,
                "fields": {"type": "object", "additionalProperties": TEXT},
                "position": {**INTEGER, "description": "Where a segment expression goes wrong."},
            },
            required=("code", "message"),
        )
    }
)

SCHEMAS = {
    "Member": MEMBER, "MemberList": listing("Member"), "MemberCreate": MEMBER_CREATE,
    "MemberUpdate": MEMBER_UPDATE, "Tags": TAGS, "Issue": ISSUE,
    "IssueSummary": ISSUE_SUMMARY, "IssueList": listing("IssueSummary"), "IssueWrite": ISSUE_WRITE,
    "Send": SEND, "Thread": THREAD, "ThreadList": listing("Thread"), "Post": POST,
    "PostList": listing("Post"), "Error": ERROR,
}  # fmt: skip

ERRORS = {
    "400": "Bad query parameters (limit, cursor, filters) or a body that is not JSON.",
    "401": "No token, or an unknown or revoked one, or its owner is no longer an editor.",
    "403": "A read token on an operation that changes data.",
    "404": "No such resource.",
    "409": "It exists already.",
    "413": "The body is too large.",
    "415": "The body is not application/json.",
    "422": "The body (or a segment expression) is not valid; `fields` says where.",
    "429": "This token sent too many requests; see Retry-After.",
    "503": "The job queue (or the database) is unavailable; nothing was done.",
}


def _error_response(description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def _answer(status: str, description: str, schema: str | Schema) -> dict[str, Schema]:
    body = ref(schema) if isinstance(schema, str) else schema
    return {status: {"description": description, "content": {"application/json": {"schema": body}}}}


def parameter(name: str, where: str, schema: Schema, description: str, **extra: Any) -> Schema:
    return {"name": name, "in": where, "schema": schema, "description": description, **extra}


PAGE = [
    parameter("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
              "default": DEFAULT_LIMIT}, "How many items per page."),
    parameter("cursor", "query", TEXT, "next_cursor of the previous page (opaque)."),
]  # fmt: skip
MEMBER_ID = parameter("member_id", "path", {"type": "integer"}, "The member's id.", required=True)
ISSUE_REF = parameter("ref", "path", TEXT, "The issue's id or slug.", required=True)
SEND_ID = parameter("send_id", "path", {"type": "integer"}, "The send's id.", required=True)
THREAD_ID = parameter("thread_id", "path", {"type": "integer"}, "The thread's id.", required=True)
TAG = parameter("tag", "path", text(100, minLength=1), "The tag's name.", required=True)


def operation(
    tag: str,
    name: str,
    summary: str,
    answer: dict[str, Schema],
    *,
    scope: str = "read",
    parameters: tuple[Schema, ...] | list[Schema] = (),
    body: str | None = None,
    errors: tuple[str, ...] = (),
) -> Schema:
    """One operation; the errors any call can get (401, 429; 403 for writes; 400, 413, 415
    and 422 with a body) are added here."""
    codes = {"401", "429", *errors}
    if scope == "write":
        codes.add("403")
    if body is not None:
        codes |= {"400", "413", "415", "422"}
    documented = {
        "operationId": name,
        "summary": summary,
        "tags": [tag],
        "security": [{"bearerAuth": [scope]}],
        "x-kith-scope": scope,
        "parameters": list(parameters),
        "responses": {
            **answer,
            **{code: {"$ref": f"#/components/responses/E{code}"} for code in sorted(codes)},
        },
    }
    if body is not None:
        documented["requestBody"] = {
            "required": True, "content": {"application/json": {"schema": ref(body)}},
        }  # fmt: skip
    return documented


PATHS = {
    "/members": {
        "get": operation(
            "members",
            "listMembers",
            "Members by id, filtered by a segment or an address.",
            _answer("200", "A page of members.", "MemberList"),
            errors=("400", "422"),
            parameters=[
                *PAGE,
                parameter("segment", "query", TEXT, "A segment expression, e.g. tier:paid."),
                parameter("email", "query", TEXT, "Exactly this address."),
            ],
        ),
        "post": operation(
            "members",
            "createMember",
            "Add a member (active, as the admin's Add member).",
            _answer("201", "The new member.", "Member"),
            scope="write",
            body="MemberCreate",
            errors=("409",),
        ),
    },
    "/members/{member_id}": {
        "get": operation(
            "members",
            "getMember",
            "One member.",
            _answer("200", "The member.", "Member"),
            parameters=[MEMBER_ID],
            errors=("404",),
        ),
        "patch": operation(
            "members",
            "updateMember",
            "Change name, tier or fields, or unsubscribe.",
            _answer("200", "The member as changed.", "Member"),
            scope="write",
            parameters=[MEMBER_ID],
            body="MemberUpdate",
            errors=("404",),
        ),
    },
    "/members/{member_id}/tags": {
        "post": operation(
            "members",
            "tagMember",
            "Add tags to a member.",
            _answer("200", "The member.", "Member"),
            scope="write",
            parameters=[MEMBER_ID],
            body="Tags",
            errors=("404",),
        ),
    },
    "/members/{member_id}/tags/{tag}": {
        "delete": operation(
            "members",
            "untagMember",
            "Remove a tag from a member (no change if not there).",
            _answer("200", "The member.", "Member"),
            scope="write",
            parameters=[MEMBER_ID, TAG],
            errors=("400", "404", "422"),
        ),
    },
    "/issues": {
        "get": operation(
            "issues",
            "listIssues",
            "Issues by id, drafts included.",
            _answer("200", "A page of issues, without bodies.", "IssueList"),
            errors=("400",),
            parameters=[
                *PAGE,
                parameter("status", "query", choice(("draft", "published")), "Only these."),
            ],
        ),
        "post": operation(
            "issues",
            "createIssue",
            "Write a new draft issue.",
            _answer("201", "The issue.", "Issue"),
            scope="write",
            body="IssueWrite",
        ),
    },
    "/issues/{ref}": {
        "get": operation(
            "issues",
            "getIssue",
            "One issue with its body, as the access policy allows.",
            _answer("200", "The issue.", "Issue"),
            parameters=[ISSUE_REF],
            errors=("404",),
        ),
        "patch": operation(
            "issues",
            "updateIssue",
            "Change an issue.",
            _answer("200", "The issue.", "Issue"),
            scope="write",
            parameters=[ISSUE_REF],
            body="IssueWrite",
            errors=("404",),
        ),
    },
    "/issues/{ref}/publish": {
        "post": operation(
            "issues",
            "publishIssue",
            "Publish an issue on the web (no body needed).",
            _answer("200", "The published issue.", "Issue"),
            scope="write",
            parameters=[ISSUE_REF],
            errors=("400", "404", "415", "422"),
        ),
    },
    "/issues/{ref}/sends": {
        "post": operation(
            "sends",
            "startSend",
            "Send an issue to a segment, now or later (as kith send).",
            _answer("201", "The send, started or scheduled.", "Send"),
            scope="write",
            parameters=[ISSUE_REF],
            body="SendStart",
            errors=("404", "503"),
        ),
    },
    "/sends/{send_id}": {
        "get": operation(
            "sends",
            "getSend",
            "How far a send has got.",
            _answer("200", "The send.", "Send"),
            parameters=[SEND_ID],
            errors=("404",),
        ),
    },
    "/segments/count": {
        "post": operation(
            "segments",
            "countSegment",
            "How many members match, and a send would reach.",
            _answer("200", "The counts.", record({"count": INTEGER, "recipients": INTEGER})),
            body="SegmentCount",
        ),
    },
    "/threads": {
        "get": operation(
            "threads",
            "listThreads",
            "Discussion threads: one issue's, one board's, or all.",
            _answer("200", "A page of threads.", "ThreadList"),
            errors=("400", "404"),
            parameters=[
                *PAGE,
                parameter("issue", "query", TEXT, "An issue's id or slug."),
                parameter("board", "query", TEXT, "A forum board's slug."),
            ],
        ),
    },
    "/threads/{thread_id}/posts": {
        "get": operation(
            "threads",
            "listPosts",
            "A thread's posts, oldest first, each with its replies.",
            _answer("200", "A page of top-level posts.", "PostList"),
            parameters=[*PAGE, THREAD_ID],
            errors=("400", "404"),
        ),
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This description (no token needed).",
            "tags": ["meta"],
            "security": [],
            "x-kith-scope": None,
            "responses": {
                **_answer("200", "OpenAPI 3.1", {"type": "object"}),
                "429": {"$ref": "#/components/responses/E429"},
            },
        }
    },
}
SCHEMAS["SendStart"] = request_record(
    {
        "segment": text(2_000, minLength=1, description="A segment expression, e.g. all."),
        "at": text(64, format="date-time", description="When to send (ISO 8601); omit: now."),
    },
    "segment",
)
SCHEMAS["SegmentCount"] = request_record({"expression": text(2_000, minLength=1)}, "expression")

DESCRIPTION = """\
Kith's API for an editor's programs. Every call but this description needs an API token
(`Authorization: Bearer kith_…`), made in the admin at /admin/api-tokens or with
`kith api-token create`. Tokens belong to editors and act as their editor: the API is for
editors only, never a member's view, and a token stops working when its owner stops being an
editor. A `read` token reads; changing anything needs a `write` token. Lists are paged with
`limit` and the opaque `next_cursor`. Every error is JSON: `{"error": {"code", "message",
"fields"?}}`.
"""


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Kith API", "version": "1", "description": DESCRIPTION},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "responses": {f"E{code}": _error_response(text) for code, text in ERRORS.items()},
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token: kith_ and 43 characters. Scopes: read, write.",
                }
            },
        },
    }
