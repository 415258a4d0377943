"""The /moderate page in a real Chromium, against a real API server and a real worker.

A test rules file escalates every comment, so each one reaches the queue; a small HTTP
server stands in for the publisher's webhook endpoint. The run also saves screenshots of the
page under var/screenshots/; with MODERATION_REFRESH_SCREENSHOTS=1 it writes the README's
copies in docs/screenshots/ instead (so a plain test run leaves the working tree clean).
"""

from __future__ import annotations

import html
import json
import os
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from moderation import webhooks
from tests.browser import launch_chromium
from tests.conftest import API_KEYS, ROOT, auth
from tests.e2e.test_pipeline import ARTICLE
from tests.receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.browser]

PUB = auth("publisher")
SECRET = "publisher-shared-secret-for-tests"
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("MODERATION_REFRESH_SCREENSHOTS") == "1"
    else ROOT / "var" / "screenshots"
)
RULES = """\
# Test rules: every comment goes to a person, so it reaches the review queue.
default:
  action: escalate
  priority: 5
  message: "sent to a person by the browser test's rules"
"""
XSS = "<img src=x onerror=\"document.title='pwned'\">"
PAGE_TITLE = "Review queue · Moderation"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def stack(database_url, redis_server, stack_factory, tmp_path: Path, receiver: Receiver):
    rules = tmp_path / "escalate-all.yaml"
    rules.write_text(RULES)
    s = stack_factory(
        database_url,
        redis_server.url,
        MODERATION_RULES=str(rules),
        MODERATION_WEBHOOK_URL=receiver.url,
        MODERATION_WEBHOOK_SECRET=SECRET,
        MODERATION_WEBHOOK_RETRY_INTERVALS="1,1,1",
    )
    s.start_api()
    s.start_worker()
    s.start_webhook_worker()
    return s


@pytest.fixture
def browser():
    yield from launch_chromium()


def submit(
    stack,
    comments: dict[str, str],
    receiver: Receiver,
    *,
    parent: str | None = None,
    article: dict | None = None,
    names: dict[str, str] | None = None,
):
    with httpx.Client(base_url=stack.url, headers=PUB, timeout=30) as c:
        assert c.put("/v1/articles/pk-ru", json=article or ARTICLE).status_code in (200, 201)
        for n, (cid, text) in enumerate(comments.items()):
            name = (names or {}).get(cid, f"Reader {n}")
            body = {"id": cid, "article_id": "pk-ru", "text": text,
                    "author": {"id": f"reader-{n}", "name": name}}  # fmt: skip
            if parent and cid != parent:
                body["parent_id"] = parent
            r = c.post("/v1/comments", json=body)
            assert r.status_code == 202, r.text
    for cid in comments:  # each escalation reaches the publisher too
        receiver.wait_for(lambda r, cid=cid: json.loads(r.body)["comment_id"] == cid, timeout=120)


def sign_in(page, stack) -> None:
    page.goto(f"{stack.url}/moderate")
    page.fill("#key", API_KEYS["moderator"])
    page.click("button[type=submit]")
    page.wait_for_selector("body.queue-page[data-loaded='1']", timeout=20_000)


def test_moderator_approves_with_a_key_and_the_publisher_is_told(stack, browser, receiver):
    submit(
        stack,
        {
            "c-abuse": "You are a stupid idiot. Buy pills at http://cheap-pills.example.biz/now",
            "c-reply": "Russia will not risk India for a few helicopters, that much is clear.",
        },
        receiver,
        parent="c-abuse",
    )
    context = browser.new_context(viewport={"width": 1200, "height": 820})
    page = context.new_page()
    page.goto(f"{stack.url}/moderate")
    assert page.locator("#key").is_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "moderate-sign-in.png"))

    sign_in(page, stack)
    card = page.locator(".card[data-id='c-abuse']")
    card.wait_for(timeout=20_000)
    assert "You are a stupid idiot" in card.locator(".comment-text").inner_text()
    # The evidence is highlighted: the words behind the toxicity score (found after the
    # decision by the worker's explain job; the page shows them at its next refresh) and
    # the spam link.
    toxic = card.locator("mark.evidence.tox")
    toxic.first.wait_for(timeout=60_000)
    assert card.locator(".spans-pending").count() == 0, card.inner_html()
    assert any(w in " ".join(toxic.all_inner_texts()).lower() for w in ("stupid", "idiot"))
    assert card.locator("mark.evidence.spam").inner_text() == "http://cheap-pills.example.biz/now"
    assert "Pakistan turns to Russia" in card.locator(".article-title").inner_text()
    assert card.locator(".reasons").inner_text().startswith("default")
    counts = page.locator("#count-open").inner_text(), page.locator("#count-claimed").inner_text()
    assert counts == ("2", "0"), counts  # selecting a card does not claim it
    reply = page.locator(".card[data-id='c-reply']")
    assert "You are a stupid idiot" in reply.locator(".parent").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "moderate-queue.png"))

    card.click()
    assert page.locator(".card.selected").get_attribute("data-id") == "c-abuse"
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")
    page.keyboard.press("a")
    # The card leaves at once, before the next poll.
    page.locator(".card[data-id='c-abuse']").wait_for(state="detached", timeout=1_000)
    assert page.locator(".card[data-id='c-reply']").is_visible()

    [got] = receiver.wait_for(
        lambda r: json.loads(r.body)["event"] == "comment.decided", timeout=60
    )
    assert got.headers["x-moderation-event"] == "comment.decided"
    assert webhooks.verify(got.body, SECRET, got.headers["x-moderation-signature"])
    payload = json.loads(got.body)
    assert payload["comment_id"] == "c-abuse" and payload["action"] == "approve"
    assert payload["decided_by"] == "moderator" and payload["article_id"] == "pk-ru"
    with httpx.Client(base_url=stack.url, headers=PUB) as c:
        body = c.get("/v1/comments/c-abuse").json()
    assert body["status"] == "approved"
    assert body["decision"]["actor"] == "moderator-tester"
    page.locator("#count-decided", has_text=re.compile(r"^1$")).wait_for()
    context.close()


def test_markup_in_comments_names_and_titles_is_shown_as_text_and_never_runs(
    stack, browser, receiver
):
    script = "<script>document.title='pwned'</script>Nice article"
    title = "<img src=x onerror=\"alert('title')\">Pakistan <b>turns</b> to Russia"
    name = "<svg onload=\"alert('name')\">Mallory</svg>"
    submit(
        stack,
        {"c-img": XSS, "c-script": script, "c-reply": "a reply <iframe src=javascript:alert(1)>"},
        receiver,
        parent="c-img",
        article={**ARTICLE, "title": title},
        names={"c-img": name, "c-script": "<script>alert('name')</script>"},
    )
    page = browser.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    console: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: console.append(m.text))
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    sign_in(page, stack)
    card = page.locator(".card[data-id='c-img']")
    card.wait_for(timeout=20_000)
    assert card.locator(".comment-text").text_content() == XSS
    assert page.locator(".card[data-id='c-script'] .comment-text").text_content() == script
    # Names and titles are text too: in the card, the reply's "In reply to", the filter.
    assert card.locator(".author h3").text_content() == name
    assert card.locator(".article-title").text_content() == title
    reply = page.locator(".card[data-id='c-reply']")
    assert reply.locator(".parent .muted").text_content() == f"In reply to {name}: "
    script_author = page.locator(".card[data-id='c-script'] .author h3").text_content()
    assert script_author == "<script>alert('name')</script>"
    assert page.locator("#article-filter option").nth(1).text_content().startswith(title)
    for tag in ("img", "script", "svg", "iframe", "b"):
        assert page.locator(f"#queue {tag}, #article-filter {tag}").count() == 0, tag
    page.wait_for_timeout(1_000)  # time for an onerror or onload handler, were there one
    assert page.title() == PAGE_TITLE
    assert dialogs == [] and errors == []
    assert not [m for m in console if "pwned" in m or "alert" in m], console
    assert failed == []  # every request the page made was answered


# --- sessions and cross-site requests, in a browser -----------------------------------------
# One API server (no worker: the reviews are written into its database) for the module.


class AttackerSite:
    """Pages of another origin that post forms to the moderation page when they load."""

    def __init__(self, pages: dict[str, str]):
        self.pages = pages
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                body = site.pages.get(self.path, "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def auto_post(action: str, fields: dict[str, str], enctype: str) -> str:
    inputs = "".join(
        f"<input type=hidden name='{html.escape(k)}' value='{html.escape(v)}'>"
        for k, v in fields.items()
    )
    return (
        f"<!doctype html><form id=f method=post action='{action}' enctype='{enctype}'>{inputs}"
        "</form><script>document.getElementById('f').submit()</script>"
    )


@pytest.fixture(scope="module")
def page_stack(tmp_path_factory: pytest.TempPathFactory):
    from moderation.db import make_engine, make_session_factory, upgrade
    from tests.api.test_reviews import add_comment
    from tests.e2e.conftest import RedisServer, Stack

    tmp = tmp_path_factory.mktemp("page-security")
    url = f"sqlite:///{tmp / 'moderation.db'}"
    engine = make_engine(url)
    upgrade(engine)
    for cid in ("c-csrf-decide", "c-csrf-claim", "c-safe"):
        add_comment(make_session_factory(engine), cid, f"What a stupid idea ({cid})")
    redis = RedisServer(tmp / "redis")
    redis.start()
    stack = Stack(tmp, url, redis.url)
    try:
        stack.start_api()
        yield stack, make_session_factory(engine)
    finally:
        stack.stop()
        redis.kill()
        engine.dispose()


@pytest.fixture(scope="module")
def module_browser():
    yield from launch_chromium()


def session_cookie(context) -> str | None:
    return next((c["value"] for c in context.cookies() if c["name"] == "moderate_session"), None)


def queue_status(stack, cookie: str) -> int:
    with httpx.Client(base_url=stack.url, cookies={"moderate_session": cookie}) as c:
        return c.get("/moderate/queue.json").status_code


def test_cross_site_form_posts_are_refused(page_stack, module_browser):
    stack, session_factory = page_stack
    context = module_browser.new_context()
    page = context.new_page()
    sign_in(page, stack)
    target = stack.url + "/moderate"
    # What a page elsewhere can post: forms (no custom header), the JSON one as text/plain.
    json_body = {'{"action": "approve", "x": "': '"}'}
    pages = {
        "/decide": auto_post(f"{target}/reviews/c-csrf-decide/decision", json_body, "text/plain"),
        "/claim": auto_post(f"{target}/reviews/c-csrf-claim/claim", {"x": "1"},
                            "application/x-www-form-urlencoded"),
        "/sign-out": auto_post(f"{target}/sign-out", {"csrf_token": "guessed"},
                               "application/x-www-form-urlencoded"),
    }  # fmt: skip
    attacker = AttackerSite(pages)
    try:
        # localhost is another site (SameSite keeps the cookie home); 127.0.0.1 on another
        # port is the same site but another origin (the cookie goes along; the token does not).
        statuses: dict[tuple[str, str], int] = {}
        for host in ("localhost", "127.0.0.1"):
            for path in pages:
                tab = context.new_page()
                with tab.expect_response(lambda r: r.request.method == "POST") as answer:
                    tab.goto(f"http://{host}:{attacker.port}{path}")
                statuses[host, path] = answer.value.status
                tab.close()
    finally:
        attacker.close()
    # Chromium sends the cookie to neither (it is SameSite=Strict, and Chromium binds cookies
    # to their port): the actions are refused as unauthenticated, and the sign-out has no
    # session to end (a request that brings the cookie without the token is a 403:
    # tests/web/test_security.py).
    for (host, path), status in statuses.items():
        assert status in ((303, 403) if path == "/sign-out" else (401, 403)), (host, path)
    with session_factory() as s:
        from moderation.db import Comment
        from moderation.db.models import ReviewClaim

        assert s.get(Comment, ("default", "c-csrf-decide")).status == "escalated"
        assert s.get(ReviewClaim, ("default", "c-csrf-claim")) is None
    # The moderator is still signed in, and the page still works for them.
    cookie = session_cookie(context)
    assert cookie and queue_status(stack, cookie) == 200
    page.reload()
    page.wait_for_selector("body.queue-page[data-loaded='1']", timeout=20_000)
    context.close()


def test_a_planted_session_is_replaced_at_sign_in(page_stack, module_browser):
    stack, _ = page_stack
    context = module_browser.new_context()
    # As an attacker on the same host would set them: for the page's path, readable by none.
    planted = [
        {"name": name, "value": value, "domain": "127.0.0.1", "path": "/moderate"}
        for name, value in (
            ("moderate_presession", "chosen-by-attacker"),
            ("moderate_session", "made-up.0000"),
        )
    ]
    context.add_cookies(planted)
    page = context.new_page()
    sign_in(page, stack)
    names = {c["name"]: c["value"] for c in context.cookies()}
    assert "moderate_presession" not in names
    fresh = names["moderate_session"]
    assert fresh != "made-up.0000" and "chosen-by-attacker" not in fresh
    assert queue_status(stack, fresh) == 200
    with httpx.Client(
        base_url=stack.url, cookies={"moderate_presession": "chosen-by-attacker"}
    ) as c:
        assert c.get("/moderate/queue.json").status_code == 401
    context.close()


def test_a_stolen_cookie_stops_working_at_sign_out(page_stack, module_browser):
    stack, _ = page_stack
    context = module_browser.new_context()
    page = context.new_page()
    sign_in(page, stack)
    stolen = session_cookie(context)
    assert stolen and queue_status(stack, stolen) == 200
    page.click(".sign-out button[type=submit]")
    page.wait_for_selector("#key", timeout=20_000)
    assert session_cookie(context) is None
    assert queue_status(stack, stolen) == 401
    with httpx.Client(base_url=stack.url, cookies={"moderate_session": stolen}) as c:
        assert "Moderator key" in c.get("/moderate").text
    context.close()
