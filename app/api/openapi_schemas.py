"""The JSON schemas of the API's bodies and answers, for its OpenAPI description (``openapi``).

Answers list every property as required: the serializers (``serialize``) always write them
all, and schemathesis holds each answer to these schemas."""

from __future__ import annotations

from typing import Any

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

SEND_START = request_record(
    {
        "segment": text(2_000, minLength=1, description="A segment expression, e.g. all."),
        "at": text(64, format="date-time", description="When to send (ISO 8601); omit: now."),
    },
    "segment",
)
SEGMENT_COUNT = request_record({"expression": text(2_000, minLength=1)}, "expression")

SCHEMAS = {
    "Member": MEMBER, "MemberList": listing("Member"), "MemberCreate": MEMBER_CREATE,
    "MemberUpdate": MEMBER_UPDATE, "Tags": TAGS, "Issue": ISSUE,
    "IssueSummary": ISSUE_SUMMARY, "IssueList": listing("IssueSummary"), "IssueWrite": ISSUE_WRITE,
    "Send": SEND, "SendStart": SEND_START, "SegmentCount": SEGMENT_COUNT, "Thread": THREAD,
    "ThreadList": listing("Thread"), "Post": POST, "PostList": listing("Post"), "Error": ERROR,
}  # fmt: skip
