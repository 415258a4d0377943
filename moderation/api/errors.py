"""One JSON shape for every error: ``{"error": code, "message": ..., "fields": [...]}``.

``fields`` names each bad field by its path in the request body (``text``,
``author.id``, ``comments``), so a client can point at what was wrong.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from moderation.api.schemas import LONE_SURROGATE
from moderation.db.models import Decision
from moderation.exceptions import (
    AlreadyDecidedError,
    ClaimedError,
    ConflictError,
    NotFoundError,
    QueueUnavailableError,
    UnknownReferenceError,
)
from moderation.perspective import errors as perspective_errors
from moderation.reviews import decision_view

log = logging.getLogger(__name__)

PERSPECTIVE_PREFIX = "/v1alpha1/"
"""Errors under this path answer in Google's envelope (``moderation.perspective.errors``)."""


def _perspective_path(path: str) -> bool:
    return path.startswith(PERSPECTIVE_PREFIX)


def perspective_response(exc: perspective_errors.PerspectiveError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.code)


class ApiError(Exception):
    def __init__(
        self, status_code: int, code: str, message: str, fields: list[dict[str, str]] | None = None
    ):
        self.status_code = status_code
        self.code = code
        self.message = message
        self.fields = fields or []
        super().__init__(message)


def error_body(
    code: str, message: str, fields: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {"error": code, "message": message, "fields": fields or []}


def field_path(loc: tuple[Any, ...] | list[Any], *, strip: int = 0) -> str:
    parts = [str(p) for p in list(loc)[strip:]]
    return ".".join(parts) if parts else "body"


_NOT_AN_OBJECT = ("model_type", "model_attributes_type", "dict_type")
"""pydantic's types for "not a mapping"; their text names internal classes
("a valid dictionary or instance of CommentCreate")."""


def pydantic_fields(errors: list[Any], *, strip_body: bool = True) -> list[dict[str, str]]:
    """Each pydantic error as ``{"field", "message", "type"}``.

    ``strip_body=False`` is for one item of a list validated on its own (the batch route):
    an error about the item as a whole says "each item must be a JSON object".
    """
    fields = []
    for err in errors:
        loc = list(err.get("loc", ()))
        whole_body = strip_body and loc[:1] == ["body"] and len(loc) == 1
        if strip_body and loc and loc[0] in ("body", "query", "path"):
            loc = loc[1:]
        msg = err.get("msg", "invalid")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        kind = err.get("type", "invalid")
        if kind in _NOT_AN_OBJECT:
            kind = "object_type"
            if whole_body:
                msg = "the request body must be a JSON object"
            elif not strip_body and not loc:
                msg = "each item must be a JSON object"
            else:
                msg = "must be a JSON object"
        elif kind == "string_unicode":  # pydantic's words for a lone surrogate
            msg = "must not contain a lone surrogate: " + LONE_SURROGATE
        elif kind == "missing" and whole_body:
            msg = "the request body is missing: send a JSON object"
        fields.append({"field": field_path(loc), "message": msg, "type": kind})
    return fields


def validation_response(fields: list[dict[str, str]], status_code: int = 422) -> JSONResponse:
    if any(f["type"] == "json_invalid" for f in fields):
        detail = next(f for f in fields if f["type"] == "json_invalid")
        return JSONResponse(
            error_body(
                "malformed_json",
                f"request body is not valid JSON: {detail['message']}",
                [{"field": "body", "message": detail["message"], "type": "json_invalid"}],
            ),
            status_code=400,
        )
    message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
    return JSONResponse(error_body("validation_error", message, fields), status_code=status_code)


SEND_JSON = "send Content-Type: application/json"


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def not_json_response(content_type: str | None) -> JSONResponse:
    """A body sent without a JSON Content-Type (FastAPI then does not parse it at all)."""
    got = f"Content-Type {content_type[:100]!r}" if content_type else "no Content-Type"
    message = f"the request body must be JSON: {SEND_JSON} (got {got})"
    return JSONResponse(
        error_body(
            "unsupported_media_type",
            message,
            [{"field": "body", "message": message, "type": "unsupported_media_type"}],
        ),
        status_code=415,
        headers={"Accept": "application/json"},
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if _perspective_path(request.url.path):
            return perspective_response(perspective_errors.from_validation(list(exc.errors())))
        content_type = request.headers.get("content-type")
        # FastAPI hands a JSON route the raw bytes when the Content-Type is not JSON.
        if isinstance(exc.body, bytes) and exc.body and not _is_json(content_type or ""):
            return not_json_response(content_type)
        return validation_response(pydantic_fields(list(exc.errors())))

    @app.exception_handler(perspective_errors.PerspectiveError)
    async def _perspective(_: Request, exc: perspective_errors.PerspectiveError) -> JSONResponse:
        return perspective_response(exc)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.fields), status_code=exc.status_code
        )

    @app.exception_handler(UnknownReferenceError)
    async def _unknown_ref(_: Request, exc: UnknownReferenceError) -> JSONResponse:
        msg = f"{exc.kind} {exc.ident!r} does not exist"
        return JSONResponse(
            error_body(
                "validation_error",
                f"{exc.field}: {msg}",
                [{"field": exc.field, "message": msg, "type": "unknown_reference"}],
            ),
            status_code=422,
        )

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse(error_body("not_found", str(exc)), status_code=404)

    @app.exception_handler(ConflictError)
    async def _conflict(_: Request, exc: ConflictError) -> JSONResponse:
        return JSONResponse(error_body("conflict", str(exc)), status_code=409)

    @app.exception_handler(ClaimedError)
    async def _claimed(_: Request, exc: ClaimedError) -> JSONResponse:
        body = error_body("claimed", str(exc))
        body["claim"] = {"moderator": exc.holder, "expires_at": jsonable_encoder(exc.expires_at)}
        return JSONResponse(body, status_code=409)

    @app.exception_handler(AlreadyDecidedError)
    async def _decided(_: Request, exc: AlreadyDecidedError) -> JSONResponse:
        body = error_body("already_decided", str(exc))
        decision = exc.decision
        body["decision"] = (
            jsonable_encoder(decision_view(decision)) if isinstance(decision, Decision) else None
        )
        return JSONResponse(body, status_code=409)

    @app.exception_handler(QueueUnavailableError)
    async def _queue(_: Request, exc: QueueUnavailableError) -> JSONResponse:
        return JSONResponse(error_body("queue_unavailable", str(exc)), status_code=503)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if _perspective_path(request.url.path):
            return perspective_response(
                perspective_errors.from_http(exc.status_code, request.method, request.url.path)
            )
        codes = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
        }
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI's "There was an error parsing the body": JSON that is not UTF-8.
            problem = f"it is not UTF-8 (byte {exc.__cause__.start})"
            return JSONResponse(
                error_body(
                    "malformed_json",
                    f"request body is not valid JSON: {problem}",
                    [{"field": "body", "message": problem, "type": "json_invalid"}],
                ),
                status_code=400,
            )
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        fields = (
            [{"field": "body", "message": detail, "type": "too_large"}]
            if exc.status_code == 413
            else []
        )
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
            detail = f"{request.method} is not allowed here; allowed: {headers['Allow']}"
        return JSONResponse(
            error_body(codes.get(exc.status_code, "http_error"), detail, fields),
            status_code=exc.status_code,
            headers=headers or None,
        )


HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> str:
    """Every method some route of the app answers at this path (Starlette's 405 names only
    the first route's, so ``DELETE /v1/articles/x`` said ``Allow: PUT``, not ``GET``)."""
    allowed = []
    for method in HTTP_METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


class BodySizeLimit:
    """Refuses request bodies over a limit with 413, before the route parses them.

    ``limits`` maps (method, path) to a byte limit; anything else gets ``default``.
    Checks Content-Length up front and counts bytes of chunked bodies as they arrive.
    """

    def __init__(self, app: ASGIApp, *, default: int, limits: dict[tuple[str, str], int]):
        self.app = app
        self.default = default
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        limit = self.limits.get((scope["method"], scope["path"]), self.default)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await self._too_large(send, limit, scope["path"])
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._too_large(send, limit, scope["path"])

    @staticmethod
    async def _too_large(send: Send, limit: int, path: str = "") -> None:
        payload = (
            perspective_errors.request_too_large(limit).body()
            if _perspective_path(path)
            else error_body(
                "payload_too_large",
                f"request body is larger than the limit of {limit} bytes",
                [{"field": "body", "message": f"larger than {limit} bytes", "type": "too_large"}],
            )
        )
        body = json.dumps(payload).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive``; an HTTPException so FastAPI's body parsing re-raises it
    instead of turning it into a generic 400."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body is larger than the limit of {limit} bytes")
