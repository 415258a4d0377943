"""A busy or unreachable database is ``503 Service Unavailable`` with ``Retry-After``.

Without this, such an error (SQLite's "database is locked", PostgreSQL down, no free
pooled connection) reached the client as a bare 500. The body is the API's error shape,
``{"error": "database_unavailable", "message": ..., "fields": []}``, or Google's envelope
under ``/v1alpha1/``; the message says whether the database is busy or unreachable and
what the driver said, never the statement, its parameters or a stack trace. Other database
errors (a constraint, a bad statement) are bugs and stay 500s.

Routes that write commit once, at the end, so a request answered 503 stored nothing;
``POST /v1/comments`` and ``/batch`` never answer 503 after their commit.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

from moderation.api.errors import PERSPECTIVE_PREFIX, error_body
from moderation.db.session import database_unavailable
from moderation.exceptions import DatabaseUnavailableError
from moderation.perspective import errors as perspective_errors

log = logging.getLogger(__name__)

BUSY_RETRY_AFTER_SECONDS = 2
"""``Retry-After`` when the database is busy: its lock or its connections free up quickly."""
UNREACHABLE_RETRY_AFTER_SECONDS = 5
"""``Retry-After`` when the database cannot be reached (down, restarting, cut off)."""


def retry_after(exc: DatabaseUnavailableError) -> int:
    return BUSY_RETRY_AFTER_SECONDS if exc.busy else UNREACHABLE_RETRY_AFTER_SECONDS


def message(exc: DatabaseUnavailableError) -> str:
    state = "busy" if exc.busy else "unreachable"
    return (
        f"the database is {state} ({exc}); the request was not carried out: "
        f"retry in {retry_after(exc)} s"
    )


def response(request: Request, exc: DatabaseUnavailableError) -> JSONResponse:
    log.warning(
        "database %s on %s %s: %s",
        "busy" if exc.busy else "unreachable",
        request.method,
        request.url.path,
        exc,
    )
    headers = {"Retry-After": str(retry_after(exc))}
    if request.url.path.startswith(PERSPECTIVE_PREFIX):
        state = "busy" if exc.busy else "unreachable"
        error = perspective_errors.unavailable(f"the database is {state}.")
        return JSONResponse(error.body(), status_code=error.code, headers=headers)
    body = error_body("database_unavailable", message(exc))
    return JSONResponse(body, status_code=503, headers=headers)


def install(app: FastAPI) -> None:
    """Answer database errors that retrying may cure with 503 and ``Retry-After``."""

    @app.exception_handler(DatabaseUnavailableError)
    async def _unavailable(request: Request, exc: DatabaseUnavailableError) -> JSONResponse:
        return response(request, exc)

    async def _translated(request: Request, exc: Exception) -> JSONResponse:
        unavailable = database_unavailable(exc)
        if unavailable is None:
            raise exc  # a bug, not an outage: the server error handler answers 500
        return response(request, unavailable)

    app.add_exception_handler(sa_exc.DBAPIError, _translated)
    app.add_exception_handler(sa_exc.TimeoutError, _translated)
