"""Perspective's errors, in Google's JSON envelope.

Every error under ``/v1alpha1/`` answers::

    {"error": {"code": 400, "message": "Comment must be non-empty.", "status": "INVALID_ARGUMENT",
               "details": [{"@type": "type.googleapis.com/google.commentanalyzer.v1alpha1.Error",
                            "errorType": "COMMENT_EMPTY"}]}}

The messages are Perspective's own (its "Limits and errors" page); its ``ErrorType`` enum
names ``COMMENT_TOO_LONG``, ``COMMENT_EMPTY``, ``NO_REQUESTED_ATTRIBUTES``,
``LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE`` and ``LANGUAGE_DETECTION_FAILED``; "any other request
format error is given ``INVALID_REQUEST``". Key and quota errors come, as from Google's front
end, with a ``google.rpc.ErrorInfo`` detail instead (``reason``: ``API_KEY_INVALID``,
``RATE_LIMIT_EXCEEDED``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

ERROR_DETAIL_TYPE = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"
ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"

COMMENT_MAX_BYTES = 20 * 1024
"""Perspective's limit on ``comment.text``: 20 KB of UTF-8."""


class ErrorType(str, Enum):
    COMMENT_TOO_LONG = "COMMENT_TOO_LONG"
    COMMENT_EMPTY = "COMMENT_EMPTY"
    NO_REQUESTED_ATTRIBUTES = "NO_REQUESTED_ATTRIBUTES"
    LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE = "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"
    LANGUAGE_DETECTION_FAILED = "LANGUAGE_DETECTION_FAILED"
    INVALID_REQUEST = "INVALID_REQUEST"


class Status(str, Enum):
    """Google's canonical codes, each with the HTTP status it travels as."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"

    @property
    def http(self) -> int:
        return _HTTP[self]


_HTTP = {
    Status.INVALID_ARGUMENT: 400,
    Status.NOT_FOUND: 404,
    Status.RESOURCE_EXHAUSTED: 429,
    Status.UNAVAILABLE: 503,
    Status.INTERNAL: 500,
}


@dataclass
class PerspectiveError(Exception):
    """One error as Perspective reports it. ``error_type`` gives the commentanalyzer detail,
    ``reason`` (with ``metadata``) a ``google.rpc.ErrorInfo`` detail."""

    message: str
    status: Status = Status.INVALID_ARGUMENT
    error_type: ErrorType | None = ErrorType.INVALID_REQUEST
    reason: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    code: int = 0

    def __post_init__(self) -> None:
        if not self.code:
            self.code = self.status.http
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        details: list[dict[str, Any]] = []
        if self.error_type is not None:
            details.append({"@type": ERROR_DETAIL_TYPE, "errorType": self.error_type.value})
        if self.reason is not None:
            details.append(
                {
                    "@type": ERROR_INFO_TYPE,
                    "reason": self.reason,
                    "domain": "googleapis.com",
                    "metadata": dict(self.metadata),
                }
            )
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "status": self.status.value,
                "details": details,
            }
        }


# --- the errors, one constructor each, so every message is written once ---------------------


def comment_empty() -> PerspectiveError:
    return PerspectiveError("Comment must be non-empty.", error_type=ErrorType.COMMENT_EMPTY)


def comment_too_long() -> PerspectiveError:
    return PerspectiveError("Comment text too long.", error_type=ErrorType.COMMENT_TOO_LONG)


def no_requested_attributes() -> PerspectiveError:
    return PerspectiveError(
        "Missing requested_attributes", error_type=ErrorType.NO_REQUESTED_ATTRIBUTES
    )


def community_of_no_site(community_id: str | None) -> PerspectiveError:
    if community_id is None:
        return PerspectiveError(
            "An operator key names the site of each request by its communityId: set "
            "communityId to one of a site's (moderation sites update SITE --community-id ID)."
        )
    return PerspectiveError(
        f"communityId {community_id!r} is not one of this key's site's communities."
    )


def unknown_attribute(name: str) -> PerspectiveError:
    return PerspectiveError(f"Unknown requested attribute: {name}")


def language_not_supported(attribute: str, languages: Iterable[str]) -> PerspectiveError:
    return PerspectiveError(
        f"Attribute {attribute} does not support request languages: {', '.join(languages)}",
        error_type=ErrorType.LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE,
    )


def attribute_needs_context(attribute: str) -> PerspectiveError:
    return PerspectiveError(
        f"Attribute {attribute} needs context: send context.articleAndParentComment "
        "(the article or the parent comment) or context.entries"
    )


def both_context_forms() -> PerspectiveError:
    return PerspectiveError(
        "Context can have either entries or article_and_parent_comment, "
        "but both fields were populated."
    )


def unknown_text_type(value: str) -> PerspectiveError:
    return PerspectiveError(f"Unknown text type: {value}")


def unsupported_score_type(score_type: str, attribute: str) -> PerspectiveError:
    return PerspectiveError(
        f"Requested score type {score_type} is not supported by attribute {attribute}"
    )


def invalid_score_threshold(attribute: str, value: float) -> PerspectiveError:
    return PerspectiveError(
        f"Invalid score_threshold for attribute {attribute}: {value} is not between 0 and 1"
    )


def no_attribute_scores() -> PerspectiveError:
    return PerspectiveError("Missing attribute_scores")


def invalid_suggested_score(attribute: str, value: float | None) -> PerspectiveError:
    shown = "missing" if value is None else f"{value}, not between 0 and 1"
    return PerspectiveError(
        f"Invalid suggested score for attribute {attribute}: summary_score.value is {shown}"
    )


def malformed_json(problem: str) -> PerspectiveError:
    return PerspectiveError(f"Invalid JSON payload received. {problem}")


API_KEY_INVALID_MESSAGE = "API key not valid. Please pass a valid API key."


def api_key_invalid() -> PerspectiveError:
    return PerspectiveError(
        API_KEY_INVALID_MESSAGE,
        error_type=None,
        reason="API_KEY_INVALID",
        metadata={"service": "commentanalyzer.googleapis.com"},
    )


def quota_exceeded(metric: str, per_second: int, consumer: str) -> PerspectiveError:
    return PerspectiveError(
        f"Quota exceeded for quota metric '{metric}' and limit '{metric} per second per key' "
        f"of service 'commentanalyzer.googleapis.com' for consumer 'api_key:{consumer}'.",
        status=Status.RESOURCE_EXHAUSTED,
        error_type=None,
        reason="RATE_LIMIT_EXCEEDED",
        metadata={
            "service": "commentanalyzer.googleapis.com",
            "quota_metric": metric,
            "quota_limit_value": str(per_second),
            "consumer": f"api_key:{consumer}",
        },
    )


def unavailable(why: str) -> PerspectiveError:
    return PerspectiveError(
        f"The service is currently unavailable: {why}", status=Status.UNAVAILABLE, error_type=None
    )


def internal_error() -> PerspectiveError:
    return PerspectiveError("Internal error encountered.", status=Status.INTERNAL, error_type=None)


def not_found(method: str, path: str) -> PerspectiveError:
    return PerspectiveError(
        f"Method {method} {path} is not found.", status=Status.NOT_FOUND, error_type=None
    )


def request_too_large(limit: int) -> PerspectiveError:
    return PerspectiveError(f"Request payload size exceeds the limit: {limit} bytes.", code=413)


def _snake(part: str) -> str:
    """A field's proto name, as Google's messages give it (``requestedAttributes`` ->
    ``requested_attributes``); map keys such as attribute names stay as written."""
    if re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)+", part):
        return re.sub(r"(?<!^)([A-Z])", r"_\1", part).lower()
    return part


def field_path(loc: Iterable[Any]) -> str:
    parts = [p for p in loc]
    if parts and parts[0] in ("body", "query"):
        parts = parts[1:]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + _snake(str(part))
    return path or "body"


def from_validation(problems: list[Any]) -> PerspectiveError:
    """FastAPI's request validation errors (its 422) as Google's 400 INVALID_ARGUMENT."""
    for problem in problems:
        if problem.get("type") == "json_invalid":
            return malformed_json(str(problem.get("ctx", {}).get("error", "not valid JSON")))
    if not problems:
        return malformed_json("The request body is missing.")
    first = problems[0]
    if first.get("type") == "missing" and list(first.get("loc", ())) == ["body"]:
        return malformed_json("The request body is missing.")
    messages = [
        f"Invalid value at '{field_path(p.get('loc', ()))}': {p.get('msg', 'invalid')}"
        for p in problems
    ]
    return PerspectiveError("Invalid JSON payload received. " + "; ".join(messages))


def from_http(status_code: int, method: str, path: str) -> PerspectiveError:
    """Routing errors (404, 405) and the like under /v1alpha1/ in Google's envelope."""
    if status_code in (404, 405):
        return not_found(method, path)
    return PerspectiveError(f"HTTP {status_code}", code=status_code, error_type=None)
