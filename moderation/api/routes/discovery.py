"""``GET /$discovery/rest?version=v1alpha1``: the discovery document Google's client
libraries build the Perspective-compatible API from (see moderation/perspective/discovery.py).

Public, as Google's is: the document holds no secret, and the clients send their key with it
(``&key=``), which is accepted and not checked here; the API calls themselves check it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from moderation.perspective.discovery import VERSION, discovery_document, version_not_found
from moderation.perspective.errors import PerspectiveError, Status

router = APIRouter(tags=["perspective"])


@router.get(
    "/$discovery/rest",
    summary="The discovery document of the Perspective-compatible API (for Google's clients)",
    response_class=JSONResponse,
)
def read_discovery_document(
    request: Request,
    version: Annotated[str, Query(description="The API version; only v1alpha1")] = VERSION,
    key: Annotated[str | None, Query(description="Accepted, not checked")] = None,
) -> JSONResponse:
    if version != VERSION:
        error = PerspectiveError(
            version_not_found(version), status=Status.NOT_FOUND, error_type=None
        )
        return JSONResponse(error.body(), status_code=error.code)
    return JSONResponse(discovery_document(str(request.base_url)))
