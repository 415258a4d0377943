"""The OpenAPI document says what the API does, limits and errors included, so that clients
generated from it (and schemathesis, tests/api/test_schemathesis.py) send what it accepts.

FastAPI's document is completed here, once, when it is first asked for:

- the security schemes: an API key as ``Authorization: Bearer <key>``; the Perspective API
  also takes Google's ``?key=`` and ``x-goog-api-key``;
- every error an operation can answer, with its body: ``ErrorBody`` (Google's envelope
  under ``/v1alpha1/``), for 400, 401, 403, 404, 413, 415, 422, 429 and 503;
- the limits that come from ``Settings`` (comment length, batch size);
- links between operations (a stored comment's id to its reads and reviews), which the
  stateful tests follow.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from moderation import defaults
from moderation.api.deps import BEARER
from moderation.api.schemas import ErrorBody
from moderation.settings import Settings

PERSPECTIVE_QUERY = "perspectiveQueryKey"
PERSPECTIVE_HEADER = "perspectiveHeaderKey"
PERSPECTIVE_PREFIX = "/v1alpha1/"
DISCOVERY_PREFIX = "/$discovery/"
ERROR_REF = "#/components/schemas/ErrorBody"
GOOGLE_ERROR_REF = "#/components/schemas/GoogleErrorBody"


class GoogleError(BaseModel):
    code: int
    message: str
    status: str = Field(description="Google's canonical code: INVALID_ARGUMENT, UNAVAILABLE, ...")
    details: list[dict[str, Any]]


class GoogleErrorBody(BaseModel):
    """Every error of the Perspective API, in Google's envelope (docs/perspective.md)."""

    error: GoogleError


DESCRIPTIONS = {
    400: "The body is not valid JSON",
    401: "No API key, a malformed Authorization header or an unknown key; "
    "send 'Authorization: Bearer <key>'",
    403: "The key's role cannot do this",
    404: "Not found",
    409: "Conflicts with what is stored",
    413: "The body is larger than the limit (MODERATION_MAX_BODY_BYTES, "
    "MODERATION_MAX_BATCH_BODY_BYTES for a batch)",
    415: "The body was sent without 'Content-Type: application/json'",
    422: "A parameter or a field of the body is invalid; 'fields' names each one",
    429: "Over the key's quota (its own, its site's or MODERATION_RATE_LIMIT_PER_SECOND; "
    "MODERATION_PERSPECTIVE_QPS_PER_KEY for the Perspective API); 'Retry-After' says when",
    500: "The models failed on this request",
    503: "A dependency (the database, Redis, the rules, the models) is unavailable; "
    "try again later",
}
PERSPECTIVE_DESCRIPTIONS = DESCRIPTIONS | {
    400: "The request is invalid (Google's INVALID_ARGUMENT): not JSON, a bad field, an "
    "empty or too long comment, an unknown attribute, or a missing or unknown API key",
    404: "No such method, or no such API version",
}


RETRY_AFTER = {
    "description": "Seconds to wait before sending the request again (a busy or unreachable "
    "database)",
    "schema": {"type": "integer", "minimum": 0},
}


def install(app: FastAPI, settings: Settings) -> None:
    """Replace ``app.openapi`` with one that completes FastAPI's document once."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate(), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(doc: dict[str, Any], settings: Settings) -> dict[str, Any]:
    doc["info"].setdefault(
        "description",
        "Every /v1 operation takes an API key as `Authorization: Bearer <key>` "
        "(MODERATION_API_KEYS; publisher, moderator or admin). Errors answer "
        '`{"error": code, "message": ..., "fields": [{"field", "message", "type"}]}`; '
        "request bodies are JSON, sent with `Content-Type: application/json`.",
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _, models = models_json_schema(
        [(ErrorBody, "serialization"), (GoogleErrorBody, "serialization")],
        ref_template="#/components/schemas/{model}",
    )
    for name, schema in models.get("$defs", {}).items():
        schemas.setdefault(name, schema)
    schemes = components.setdefault("securitySchemes", {})  # BEARER: from deps.authenticate
    schemes[PERSPECTIVE_QUERY] = {
        "type": "apiKey",
        "in": "query",
        "name": "key",
        "description": "The Perspective API also takes the key as Google's clients send it.",
    }
    schemes[PERSPECTIVE_HEADER] = {"type": "apiKey", "in": "header", "name": "x-goog-api-key"}
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            _document_operation(path, operation)
    _settings_limits(schemas, settings)
    _links(doc)
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's, replaced above
        if not _refers_to(doc, name):
            schemas.pop(name, None)
    return doc


def _document_operation(path: str, operation: dict[str, Any]) -> None:
    perspective = path.startswith((PERSPECTIVE_PREFIX, DISCOVERY_PREFIX))
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    statuses: list[int] = []
    if path.startswith(PERSPECTIVE_PREFIX):
        operation["security"] = [{PERSPECTIVE_QUERY: []}, {PERSPECTIVE_HEADER: []}, {BEARER: []}]
        # Every problem with the request, its key included, is a 400 there, as at Google.
        operation["responses"].pop("422", None)
        statuses += [400, 413, 429, 503] + ([500] if path.endswith(":analyze") else [])
    elif path.startswith(DISCOVERY_PREFIX):
        statuses.append(404)  # another API version, answered in Google's envelope
    else:
        if any(BEARER in requirement for requirement in operation.get("security", [])):
            statuses += [401, 403, 429]  # a key over its quota (moderation.quotas)
        if has_body:
            statuses += [400, 413, 415, 422]
        if parameters:
            statuses.append(422)
        if any(p["in"] == "path" for p in parameters):
            statuses.append(404)
        if any(p["in"] == "query" and p["name"] == "site" for p in parameters):
            statuses += [400, 404]  # an operator key without ?site=; a site it cannot see
        if path.startswith("/v1/"):
            statuses.append(503)
    responses = operation["responses"]
    ref = GOOGLE_ERROR_REF if perspective else ERROR_REF
    descriptions = PERSPECTIVE_DESCRIPTIONS if perspective else DESCRIPTIONS
    if path == "/readyz":
        ok = responses["200"]
        responses["503"] = {
            "description": "Not ready: 'failing' names each failing check",
            "content": ok.get("content", {}),
        }
    for status in sorted(set(statuses)):
        responses.setdefault(str(status), _error_response(descriptions[status], ref))
    if "503" in responses and not perspective:
        responses["503"].setdefault("headers", {})["Retry-After"] = RETRY_AFTER
    for status, response in responses.items():
        if _refers_to(response, "HTTPValidationError"):  # FastAPI's 422, not what we answer
            response.update(_error_response(DESCRIPTIONS[422], ERROR_REF))
        elif status == "422" and not perspective and (has_body or parameters):
            # A route's own 422 body (a refused batch) besides the validation errors' one.
            media = response.get("content", {}).get("application/json", {})
            own = media.get("schema")
            if own is not None and own != {"$ref": ERROR_REF}:
                media["schema"] = {"anyOf": [own, {"$ref": ERROR_REF}]}


def _error_response(description: str, ref: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}


def _refers_to(value: dict[str, Any], name: str) -> bool:
    return f'"#/components/schemas/{name}"' in json.dumps(value)


def _settings_limits(schemas: dict[str, Any], settings: Settings) -> None:
    """The limits the routes check against ``Settings``, as this server is configured."""
    text = schemas["CommentCreate"]["properties"]["text"]
    text["maxLength"] = settings.max_comment_chars
    text["description"] = "At most MODERATION_MAX_COMMENT_CHARS characters (code points)"
    comments = schemas["BatchCreate"]["properties"]["comments"]
    # The items are checked one by one: each is accepted or refused on its own.
    comments["items"] = {"$ref": "#/components/schemas/CommentCreate"}
    comments["maxItems"] = min(settings.max_batch_items, defaults.DEFAULT_MAX_BATCH_ITEMS)
    comments["description"] = (
        "At most MODERATION_MAX_BATCH_ITEMS comments; an item that is invalid is refused in "
        "its result without refusing the others"
    )


def _operation_ids(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (method.upper(), path): op["operationId"]
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if "operationId" in op
    }


COMMENT_ID_TARGETS = [
    ("GET", "/v1/comments/{comment_id}"),
    ("POST", "/v1/comments/{comment_id}/reports"),
    ("GET", "/v1/comments/{comment_id}/reports"),
    ("POST", "/v1/comments/{comment_id}/decision"),
    ("POST", "/v1/reviews/{comment_id}/claim"),
    ("POST", "/v1/reviews/{comment_id}/release"),
    ("POST", "/v1/reviews/{comment_id}/decision"),
]


def _links(doc: dict[str, Any]) -> None:
    """What a stored comment's or article's id leads to (OpenAPI links)."""
    ids = _operation_ids(doc)

    def link(
        source: tuple[str, str], name: str, target: tuple[str, str], **how: dict[str, str]
    ) -> None:
        op = doc["paths"].get(source[1], {}).get(source[0].lower())
        if op is None or target not in ids:
            return
        for status, response in op["responses"].items():
            if status.startswith("2"):
                response.setdefault("links", {})[name] = {"operationId": ids[target], **how}

    new_comment = ("POST", "/v1/comments")
    for method, path in COMMENT_ID_TARGETS:
        name = method.lower() + path.removeprefix("/v1").replace("/{comment_id}", "")
        link(
            new_comment,
            name.replace("/", "_"),
            (method, path),
            parameters={"comment_id": "$response.body#/id"},
        )
    link(
        new_comment,
        "reply",
        new_comment,
        requestBody={"article_id": "$response.body#/article_id", "parent_id": "$response.body#/id"},
    )
    article = ("PUT", "/v1/articles/{article_id}")
    link(
        article,
        "read_article",
        ("GET", "/v1/articles/{article_id}"),
        parameters={"article_id": "$response.body#/id"},
    )
    link(
        article, "comment_on_article", new_comment, requestBody={"article_id": "$response.body#/id"}
    )
