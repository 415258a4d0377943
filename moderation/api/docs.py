"""``/docs`` (Swagger UI) and ``/redoc`` with their scripts and styles served from this
service, so the API's documentation works without internet.

The assets are the published npm packages' files, unchanged, in ``moderation/api/static/``
(swagger-ui-dist, Apache-2.0; redoc's standalone bundle, MIT; their licences beside them).
They are files, not Python: importing this module reads none of them.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
ASSETS_PATH = "/docs/assets"
SWAGGER_UI_VERSION = "5.35.0"
"""swagger-ui-dist's release in ``static/`` (swagger-ui-bundle.js, swagger-ui.css)."""
REDOC_VERSION = "2.5.4"
"""redoc's release in ``static/`` (bundles/redoc.standalone.js)."""


_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def with_policy(page: HTMLResponse) -> HTMLResponse:
    """A Content-Security-Policy that keeps the page to this service: ReDoc's sidebar would
    load Redocly's logo from their CDN, and no other request should leave either."""
    inline = [
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.findall(bytes(page.body).decode())
    ]
    page.headers["Content-Security-Policy"] = "; ".join(
        [
            "default-src 'self'",
            " ".join(["script-src 'self'", *inline]),
            "style-src 'self' 'unsafe-inline'",  # both UIs style elements from script
            "img-src 'self' data:",
            "worker-src 'self' blob:",  # ReDoc's search index runs in a worker
            "frame-ancestors 'none'",
        ]
    )
    return page


def install(app: FastAPI) -> None:
    """Serve the two documentation pages and their assets. The app is built with
    ``docs_url=None, redoc_url=None`` (FastAPI's own pages load them from a CDN)."""
    title = f"{app.title} {app.version}"
    app.mount(ASSETS_PATH, StaticFiles(directory=STATIC), name="docs-assets")

    def prefix(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = prefix(request)
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} · Swagger UI",
            swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
            # No badge from the public validator, no call out of the service.
            swagger_ui_parameters={"validatorUrl": None},
        )
        return with_policy(page)

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = prefix(request)
        page = get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} · ReDoc",
            redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
            with_google_fonts=False,
        )
        return with_policy(page)
