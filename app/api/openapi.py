"""The OpenAPI 3.1 description of ``/api/v1``, kept here as one dict (its schemas in
``openapi_schemas``) and served as ``/api/v1/openapi.json``. A test checks that it names
every route of the API and no other, with the scope each needs, and schemathesis checks the
answers against it."""

from __future__ import annotations

from typing import Any, NamedTuple

from app.api.openapi_schemas import INTEGER, SCHEMAS, TEXT, Schema, choice, record, ref, text
from app.api.pagination import DEFAULT_LIMIT, MAX_LIMIT

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


class Op(NamedTuple):
    """One operation: where, what it answers, the scope it needs, what it takes."""

    path: str
    method: str
    tag: str
    name: str
    summary: str
    answer: tuple[str, str, str | Schema]  # status, description, schema (or its name)
    scope: str = "read"
    parameters: tuple[Schema, ...] = ()
    body: str | None = None
    errors: tuple[str, ...] = ()


SEGMENT = parameter("segment", "query", TEXT, "A segment expression, e.g. tier:paid.")
EMAIL = parameter("email", "query", TEXT, "Exactly this address.")
STATUS = parameter("status", "query", choice(("draft", "published")), "Only these issues.")
ISSUE_FILTER = parameter("issue", "query", TEXT, "An issue's id or slug.")
BOARD_FILTER = parameter("board", "query", TEXT, "A forum board's slug.")
COUNTS = record({"count": INTEGER, "recipients": INTEGER})

OPERATIONS = (
    Op("/members", "get", "members", "listMembers",
       "Members by id, filtered by a segment or an address.",
       ("200", "A page of members.", "MemberList"),
       parameters=(*PAGE, SEGMENT, EMAIL), errors=("400", "422")),
    Op("/members", "post", "members", "createMember",
       "Add a member (active, as the admin's Add member).",
       ("201", "The new member.", "Member"), "write", body="MemberCreate", errors=("409",)),
    Op("/members/{member_id}", "get", "members", "getMember", "One member.",
       ("200", "The member.", "Member"), parameters=(MEMBER_ID,), errors=("404",)),
    Op("/members/{member_id}", "patch", "members", "updateMember",
       "Change name, tier or fields, or unsubscribe.",
       ("200", "The member as changed.", "Member"), "write", (MEMBER_ID,), "MemberUpdate",
       ("404",)),
    Op("/members/{member_id}/tags", "post", "members", "tagMember", "Add tags to a member.",
       ("200", "The member.", "Member"), "write", (MEMBER_ID,), "Tags", ("404",)),
    Op("/members/{member_id}/tags/{tag}", "delete", "members", "untagMember",
       "Remove a tag from a member (no change if it was not there).",
       ("200", "The member.", "Member"), "write", (MEMBER_ID, TAG),
       errors=("400", "404", "422")),
    Op("/issues", "get", "issues", "listIssues", "Issues by id, drafts included.",
       ("200", "A page of issues, without bodies.", "IssueList"),
       parameters=(*PAGE, STATUS), errors=("400",)),
    Op("/issues", "post", "issues", "createIssue", "Write a new draft issue.",
       ("201", "The issue.", "Issue"), "write", body="IssueWrite"),
    Op("/issues/{ref}", "get", "issues", "getIssue",
       "One issue with its body, as the access policy allows.",
       ("200", "The issue.", "Issue"), parameters=(ISSUE_REF,), errors=("404",)),
    Op("/issues/{ref}", "patch", "issues", "updateIssue", "Change an issue.",
       ("200", "The issue.", "Issue"), "write", (ISSUE_REF,), "IssueWrite", ("404",)),
    Op("/issues/{ref}/publish", "post", "issues", "publishIssue",
       "Publish an issue on the web (no body needed).",
       ("200", "The published issue.", "Issue"), "write", (ISSUE_REF,),
       errors=("400", "404", "415", "422")),
    Op("/issues/{ref}/sends", "post", "sends", "startSend",
       "Send an issue to a segment, now or later, as kith send does.",
       ("201", "The send, started or scheduled.", "Send"), "write", (ISSUE_REF,), "SendStart",
       ("404", "503")),
    Op("/sends/{send_id}", "get", "sends", "getSend", "How far a send has got.",
       ("200", "The send.", "Send"), parameters=(SEND_ID,), errors=("404",)),
    Op("/segments/count", "post", "segments", "countSegment",
       "How many members an expression matches, and how many a send would reach.",
       ("200", "The counts.", COUNTS), body="SegmentCount"),
    Op("/threads", "get", "threads", "listThreads",
       "Discussion threads: one issue's, one board's, or all.",
       ("200", "A page of threads.", "ThreadList"),
       parameters=(*PAGE, ISSUE_FILTER, BOARD_FILTER), errors=("400", "404")),
    Op("/threads/{thread_id}/posts", "get", "threads", "listPosts",
       "A thread's posts, oldest first, each with its replies.",
       ("200", "A page of top-level posts.", "PostList"),
       parameters=(*PAGE, THREAD_ID), errors=("400", "404")),
)  # fmt: skip


def operation(op: Op) -> Schema:
    """One operation's description; the errors any call can get (401, 429; 403 for writes;
    400, 413, 415 and 422 with a body) are added here."""
    codes = {"401", "429", *op.errors}
    if op.scope == "write":
        codes.add("403")
    if op.body is not None:
        codes |= {"400", "413", "415", "422"}
    documented = {
        "operationId": op.name,
        "summary": op.summary,
        "tags": [op.tag],
        "security": [{"bearerAuth": [op.scope]}],
        "x-kith-scope": op.scope,
        "parameters": list(op.parameters),
        "responses": {
            **_answer(*op.answer),
            **{code: {"$ref": f"#/components/responses/E{code}"} for code in sorted(codes)},
        },
    }
    if op.body is not None:
        documented["requestBody"] = {
            "required": True, "content": {"application/json": {"schema": ref(op.body)}},
        }  # fmt: skip
    return documented


OPENAPI_ITSELF = {
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


def paths() -> dict[str, dict[str, Schema]]:
    described: dict[str, dict[str, Schema]] = {"/openapi.json": {"get": OPENAPI_ITSELF}}
    for op in OPERATIONS:
        described.setdefault(op.path, {})[op.method] = operation(op)
    return described


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
        "paths": paths(),
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
