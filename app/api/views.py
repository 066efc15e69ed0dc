"""``/api/v1``: the JSON API for an editor's programs. HTTP only: parse, call one service,
answer JSON. Tokens, scopes and limits are in ``auth``; the description in ``openapi``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import redis
from flask import Blueprint, current_app, g, jsonify, request, url_for

from app.api import auth, openapi, pagination, serialize, service
from app.api.bodies import Body, json_object, usable_text
from app.api.errors import ApiError, response
from app.api.pagination import Slice
from app.db import transaction
from app.discussions.models import Thread
from app.discussions.service import PostRefused
from app.issues import service as issues
from app.issues.models import DISCUSSION_SETTINGS, MAILED_REPLIES, VISIBILITIES, Issue
from app.members import audience, segments
from app.members import service as members
from app.members.models import STATUSES, TIERS, Member
from app.queue import available
from app.sending import control
from app.sending import service as sending
from app.sending.jobs import enqueue_send
from app.sending.models import Send
from app.web.security import csrf, limiter

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # no cookie is ever read here, so there is nothing to forge
limiter.limit(auth.rate_limit, key_func=auth.rate_limit_key)(bp)
log = logging.getLogger(__name__)

MAX_TAGS = 100
MAX_FIELDS = 50
ISSUE_TEXTS = {
    "title": 300,
    "subtitle": 300,
    "slug": 120,
    "excerpt": 2_000,
    "body_markdown": 400_000,
}
ISSUE_CHOICES = {
    "visibility": VISIBILITIES,
    "discussion": DISCUSSION_SETTINGS,
    "mailed_replies": MAILED_REPLIES,
}


@bp.before_request
def _authenticate() -> None:
    scope = auth.required_scope(current_app.view_functions[request.endpoint])
    if scope is not None:
        g.api_token = auth.authenticate(scope)


@bp.after_request
def _not_cached(answer):
    answer.headers["Cache-Control"] = "no-store"
    return answer


def _editor() -> Member:
    return g.api_token.editor


def _by() -> str:
    """Who made a change, for consent records: the editor, and which of their tokens."""
    return f"{_editor().email} with the API token “{g.api_token.name}”"


def _refusal(status: int) -> Callable[[Exception], Any]:
    def handle(error: Exception):
        return response(ApiError(status, str(error)))

    return handle


# A domain's refusal, and the status it answers with here.
REFUSALS: dict[type[Exception], int] = {
    service.Conflict: 409,
    audience.AudienceError: 422,
    sending.SendError: 422,
    PostRefused: 404,
}
for refusal, status in REFUSALS.items():
    bp.register_error_handler(refusal, _refusal(status))
bp.register_error_handler(ApiError, response)


@bp.errorhandler(segments.SegmentError)
def _bad_segment(error: segments.SegmentError):
    return response(ApiError(422, str(error), code="invalid_segment", position=error.position + 1))


@bp.errorhandler(members.InvalidEmail)
def _bad_email(error: members.InvalidEmail):
    return response(ApiError(422, str(error), fields={"email": str(error)}))


@bp.errorhandler(issues.IssueError)
def _bad_issue(error: issues.IssueError):
    return response(ApiError(422, "The issue was not saved.", fields=error.errors))


@bp.errorhandler(service.Invalid)
def _bad_value(error: service.Invalid):
    return response(ApiError(422, str(error), fields={error.field: str(error)}))


def _listing(listing: str, found: Slice, to_json: Callable[[Any], dict]) -> Any:
    after = found.next_after
    return jsonify(
        data=[to_json(item) for item in found.items],
        next_cursor=pagination.cursor(listing, after) if after is not None else None,
    )


def _created(body: dict[str, Any], location: str):
    answer = jsonify(body)
    answer.status_code, answer.headers["Location"] = 201, location
    return answer


def _found(session, model: type, ident: int) -> Any:
    row = service.get(session, model, ident)
    if row is None:
        raise ApiError(404, f"There is no {model.__name__.lower()} with id {ident}.")
    return row


def _issue(session, ref: str) -> Issue:
    issue = service.find_issue(session, ref)
    if issue is None:
        raise ApiError(404, f"There is no issue with the id or slug {ref!r}.")
    return issue


@bp.get("/openapi.json")
@auth.public
def openapi_document():
    return jsonify(openapi.document())


# --- members ------------------------------------------------------------------------------


@bp.get("/members")
def list_members():
    wanted = pagination.window("members")
    email = request.args.get("email")
    with transaction() as session:
        try:
            found = service.list_members(
                session, wanted, segment=request.args.get("segment"), email=email
            )
        except members.InvalidEmail as error:
            raise ApiError(400, f"email: {error}", fields={"email": str(error)}) from None
        return _listing("members", found, serialize.member)


def _member_values(body: Body, *, changing: bool) -> dict[str, Any]:
    """Name, tier and custom fields; a change may set a field to null to remove it."""
    return {
        "name": body.text("name", max_length=200),
        "tier": body.choice("tier", TIERS),
        "fields": body.text_map("fields", max_items=MAX_FIELDS, max_length=500, nullable=changing),
    }


@bp.post("/members")
@auth.writes
def create_member():
    body = Body(json_object(), ("email", "name", "tier", "tags", "fields"))
    values = {
        "email": body.text("email", max_length=320, required=True),
        "tags": body.texts("tags", max_items=MAX_TAGS, max_length=audience.TAG_LIMIT),
        **_member_values(body, changing=False),
    }
    body.done()
    with transaction() as session:
        member = service.create_member(session, values, by=_by())
        member_json = serialize.member(member)
    return _created(member_json, url_for("api.get_member", member_id=member_json["id"]))


@bp.get("/members/<int:member_id>")
def get_member(member_id: int):
    with transaction() as session:
        return jsonify(serialize.member(_found(session, Member, member_id)))


@bp.patch("/members/<int:member_id>")
@auth.writes
def update_member(member_id: int):
    body = Body(json_object(), ("name", "tier", "status", "fields"))
    values = {**_member_values(body, changing=True), "status": body.choice("status", STATUSES)}
    body.done()
    with transaction() as session:
        member = _found(session, Member, member_id)
        return jsonify(serialize.member(service.update_member(session, member, values, by=_by())))


@bp.post("/members/<int:member_id>/tags")
@auth.writes
def tag_member(member_id: int):
    body = Body(json_object(), ("tags",))
    names = body.texts("tags", max_items=MAX_TAGS, max_length=audience.TAG_LIMIT)
    if names is None:
        body.errors.setdefault("tags", "is required: a list of tag names")
    body.done()
    with transaction() as session:
        member = _found(session, Member, member_id)
        return jsonify(serialize.member(service.tag(session, member, names, add=True)))


@bp.delete("/members/<int:member_id>/tags/<path:tag>")
@auth.writes
def untag_member(member_id: int, tag: str):
    if problem := usable_text(tag):
        raise ApiError(422, f"The tag {problem}.", fields={"tag": problem})
    with transaction() as session:
        member = _found(session, Member, member_id)
        return jsonify(serialize.member(service.tag(session, member, [tag], add=False)))


# --- issues -------------------------------------------------------------------------------


@bp.get("/issues")
def list_issues():
    wanted = pagination.window("issues")
    status = request.args.get("status")
    if status is not None and status not in ("draft", "published"):
        raise ApiError(400, "status must be draft or published.", fields={"status": status})
    with transaction() as session:
        return _listing(
            "issues", service.list_issues(session, wanted, status=status), serialize.issue_summary
        )


def _issue_values() -> dict[str, Any]:
    body = Body(json_object(), (*ISSUE_TEXTS, *ISSUE_CHOICES, "email_only", "feedback_choices"))
    values: dict[str, Any] = {
        name: body.text(name, max_length=n) for name, n in ISSUE_TEXTS.items()
    }
    values |= {name: body.choice(name, choices) for name, choices in ISSUE_CHOICES.items()}
    values |= {"email_only": body.boolean("email_only")}
    values |= {"feedback_choices": body.integer("feedback_choices")}
    body.done()
    return {name: value for name, value in values.items() if value is not None}


def _issue_json(issue: Issue) -> dict[str, Any]:
    return serialize.issue(issue, _editor())


@bp.post("/issues")
@auth.writes
def create_issue():
    values = _issue_values()
    with transaction() as session:
        issue_json = _issue_json(issues.save_issue(session, values))
    return _created(issue_json, url_for("api.get_issue", ref=issue_json["id"]))


@bp.get("/issues/<ref>")
def get_issue(ref: str):
    with transaction() as session:
        return jsonify(_issue_json(_issue(session, ref)))


@bp.patch("/issues/<ref>")
@auth.writes
def update_issue(ref: str):
    values = _issue_values()
    with transaction() as session:
        issue = issues.save_issue(session, values, issue_id=_issue(session, ref).id)
        return jsonify(_issue_json(issue))


@bp.post("/issues/<ref>/publish")
@auth.writes
def publish_issue(ref: str):
    Body(json_object(optional=True), ()).done()
    with transaction() as session:
        issue = _issue(session, ref)
        issue = issues.edit_issue(session, {}, issue_id=issue.id, action="publish")
        return jsonify(_issue_json(issue))


# --- segments and sends -------------------------------------------------------------------


@bp.post("/segments/count")
def count_segment():
    body = Body(json_object(), ("expression",))
    expression = body.text("expression", required=True)
    body.done()
    with transaction() as session:
        matched = segments.count(session, expression)
        reached = segments.count(session, expression, recipients=True)
    return jsonify(count=matched, recipients=reached)


@bp.post("/issues/<ref>/sends")
@auth.writes
def start_send(ref: str):
    """Send (or schedule) an issue as ``kith send`` does: the send is recorded, then queued."""
    body = Body(json_object(), ("segment", "at"))
    expression, at_text = body.text("segment", required=True), body.text("at", max_length=64)
    body.done()
    at = service.send_moment(at_text)
    if not available():
        raise ApiError(503, "The job queue is unavailable, so nothing was sent. Try again soon.")
    with transaction(immediate=True) as session:
        send = sending.start_send(session, _issue(session, ref), expression, at=at)
        send_id, scheduled = send.id, send.status == "scheduled"
    try:
        enqueue_send(send_id, at=at if scheduled else None)
    except (redis.RedisError, OSError):  # the reconciler finds the send within a minute
        log.exception("could not queue send %s", send_id)
    with transaction() as session:
        progress = control.snapshot(session, session.get(Send, send_id))
    return _created(progress.as_json(), url_for("api.get_send", send_id=send_id))


@bp.get("/sends/<int:send_id>")
def get_send(send_id: int):
    with transaction() as session:
        return jsonify(control.snapshot(session, _found(session, Send, send_id)).as_json())


# --- threads ------------------------------------------------------------------------------


@bp.get("/threads")
def list_threads():
    wanted = pagination.window("threads")
    issue_ref, board_slug = request.args.get("issue"), request.args.get("board")
    if issue_ref is not None and board_slug is not None:
        raise ApiError(400, "Give issue or board, not both.", fields={"board": "with issue"})
    with transaction() as session:
        issue = _issue(session, issue_ref) if issue_ref is not None else None
        board = service.board_by_slug(session, board_slug) if board_slug is not None else None
        if board_slug is not None and board is None:
            raise ApiError(404, f"There is no board with the slug {board_slug!r}.")
        found = service.list_threads(session, _editor(), wanted, issue=issue, board=board)
        return _listing("threads", found, serialize.thread)


@bp.get("/threads/<int:thread_id>/posts")
def list_posts(thread_id: int):
    wanted = pagination.window("posts", key_length=2)
    with transaction() as session:
        thread = _found(session, Thread, thread_id)
        found = service.thread_posts(session, _editor(), thread, wanted)
        return _listing("posts", found, serialize.post)
