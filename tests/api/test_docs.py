"""The API's own documentation: /docs (Swagger UI) and /redoc work with no network but the
service's (a real Chromium against a real uvicorn, every other request blocked), and the
OpenAPI document says how to authenticate and what each operation answers on error."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from moderation.api import docs
from tests.browser import launch_chromium

ERROR = {"$ref": "#/components/schemas/ErrorBody"}


@pytest.fixture(scope="module")
def docs_client(module_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(module_app) as client:
        yield client


@pytest.fixture(scope="module")
def live_url(module_app: FastAPI) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(module_app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    yield from launch_chromium()


def offline_page(browser, live_url: str):
    """A page that may reach the service only; what it tried elsewhere is in ``.outside``."""
    context = browser.new_context()
    outside: list[str] = []

    def route(r) -> None:
        if r.request.url.startswith(live_url + "/"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.outside = outside
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    return context, page


def operations(client: TestClient) -> list[tuple[str, str, str]]:
    doc = client.get("/openapi.json").json()
    return [
        (method.upper(), path, op["summary"])  # FastAPI names the ones without one
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    ]


@pytest.mark.browser
def test_swagger_ui_lists_every_operation_without_internet(browser, live_url, docs_client):
    context, page = offline_page(browser, live_url)
    page.goto(f"{live_url}/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    shown = {
        (
            block.locator(".opblock-summary-method").inner_text(),
            block.locator(".opblock-summary-path").get_attribute("data-path"),
        )
        for block in page.locator(".opblock").all()
    }
    expected = {(method, path) for method, path, _ in operations(docs_client)}
    assert shown == expected
    assert page.locator("button.authorize").is_visible()  # the bearer scheme is declared
    assert page.outside == []
    context.close()
    assert page.errors == []


@pytest.mark.browser
def test_redoc_lists_every_operation_without_internet(browser, live_url, docs_client):
    context, page = offline_page(browser, live_url)
    page.goto(f"{live_url}/redoc")
    page.wait_for_selector("h1", timeout=20_000)
    text = page.locator("body").inner_text()
    for method, path, summary in operations(docs_client):
        assert summary in text, (method, path)
    assert "bearerKey" in text or "HTTP Authorization Scheme" in text
    assert page.outside == []
    context.close()
    # The one thing it tries elsewhere, Redocly's logo, the page's policy blocks in the browser.
    assert [e for e in page.errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in e] == []


def test_the_pages_name_only_the_services_own_assets(docs_client):
    for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = docs_client.get(page).text
        assert f'src="{docs.ASSETS_PATH}/{asset}"' in html
        assert "cdn." not in html and "fonts.googleapis" not in html
        assert docs_client.get(f"{docs.ASSETS_PATH}/{asset}").status_code == 200
    assert '"validatorUrl": null' in docs_client.get("/docs").text


def test_the_document_says_how_to_authenticate_and_what_errors_look_like(docs_client):
    doc = docs_client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearerKey"]["scheme"] == "bearer"
    post = doc["paths"]["/v1/comments"]["post"]
    assert post["security"] == [{"bearerKey": []}]
    for status in ("400", "401", "403", "409", "413", "415", "422", "503"):
        assert post["responses"][status]["content"]["application/json"]["schema"] == ERROR, status
    assert post["responses"]["503"]["headers"]["Retry-After"]["schema"]["type"] == "integer"
    assert "security" not in doc["paths"]["/healthz"]["get"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    analyze = doc["paths"]["/v1alpha1/comments:analyze"]["post"]
    assert "422" not in analyze["responses"]  # Google's 400 instead
    assert analyze["responses"]["429"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GoogleErrorBody"
    }


def test_the_document_carries_the_configured_limits_and_the_links(docs_client, module_app):
    doc = docs_client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    settings = module_app.state.settings
    assert schemas["CommentCreate"]["properties"]["text"]["maxLength"] == settings.max_comment_chars
    comments = schemas["BatchCreate"]["properties"]["comments"]
    assert comments["maxItems"] == settings.max_batch_items
    assert comments["items"] == {"$ref": "#/components/schemas/CommentCreate"}
    links = doc["paths"]["/v1/comments"]["post"]["responses"]["202"]["links"]
    assert links["get_comments"]["parameters"] == {"comment_id": "$response.body#/id"}
    assert set(links) == {
        "get_comments",
        "post_comments_reports",
        "get_comments_reports",
        "post_comments_decision",
        "post_reviews_claim",
        "post_reviews_release",
        "post_reviews_decision",
        "reply",
    }
