"""The API's one error shape: ``{"error": {"code", "message", "fields"?}}``, for every failure
under ``/api/`` (routing, auth, validation, limits, even a crash), never an HTML page."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from werkzeug.exceptions import HTTPException

API_PATH = "/api/"

# HTTP status → the machine word clients switch on.
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "server_error",
    503: "unavailable",
}
MESSAGES = {
    400: "The request could not be understood.",
    401: "Send Authorization: Bearer <API token>.",
    403: "This API token may not do that.",
    404: "There is nothing at this address.",
    405: "This address does not accept that method.",
    413: "The request body is larger than Kith accepts.",
    415: "Send a JSON body with Content-Type: application/json.",
    429: "Too many requests with this token. Wait a minute and try again.",
    500: "An unexpected error happened; nothing was half-saved.",
    503: "Kith cannot reach its database or job queue right now. Try again shortly.",
}
# Headers an HTTP error carries that still mean something in a JSON answer.
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class ApiError(Exception):
    """A request the API refuses; the view's edge turns it into the JSON error."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        fields: dict[str, str] | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message or MESSAGES.get(status, ""))
        self.status = status
        self.message = message or MESSAGES.get(status, "The request failed.")
        self.fields = fields
        self.code = code or CODES.get(status, "error")
        self.headers = headers or {}
        self.extra = extra


def is_api_request() -> bool:
    return request.path.startswith(API_PATH)


def response(error: ApiError):
    body: dict[str, Any] = {"code": error.code, "message": error.message, **error.extra}
    if error.fields:
        body["fields"] = error.fields
    answer = jsonify(error=body)
    answer.status_code = error.status
    answer.headers.update(error.headers)
    answer.headers["Cache-Control"] = "no-store"
    return answer


def from_status(status: int, message: str | None = None):
    """The JSON error for a status raised outside the API's own code (database down, a crash)."""
    return response(ApiError(status, message))


def from_http(error: HTTPException):
    """The JSON error for werkzeug's exceptions: routing, body size, rate limits, aborts."""
    status = error.code or 500
    kept = {name: value for name, value in error.get_headers() if name in KEPT_HEADERS}
    return response(ApiError(status, headers=kept))
