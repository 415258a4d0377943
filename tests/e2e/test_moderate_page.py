"""The /moderate page in a real Chromium, against a real API server and a real worker.

A test rules file escalates every comment, so each one reaches the queue; a small HTTP
server stands in for the publisher's webhook endpoint. The run also saves screenshots of the
page under var/screenshots/; with MODERATION_REFRESH_SCREENSHOTS=1 it writes the README's
copies in docs/screenshots/ instead (so a plain test run leaves the working tree clean).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from moderation import webhooks
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
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
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
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Chromium is not installed: run `make browser`")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


def submit(stack, comments: dict[str, str], receiver: Receiver, *, parent: str | None = None):
    with httpx.Client(base_url=stack.url, headers=PUB, timeout=30) as c:
        assert c.put("/v1/articles/pk-ru", json=ARTICLE).status_code in (200, 201)
        for n, (cid, text) in enumerate(comments.items()):
            body = {"id": cid, "article_id": "pk-ru", "text": text,
                    "author": {"id": f"reader-{n}", "name": f"Reader {n}"}}  # fmt: skip
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
    assert sum(map(int, counts)) == 2, counts  # the selected card is claimed after a moment
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
    page.wait_for_function("document.getElementById('count-decided').textContent === '1'")
    context.close()


def test_comment_markup_is_shown_as_text_and_never_runs(stack, browser, receiver):
    script = "<script>document.title='pwned'</script>Nice article"
    submit(stack, {"c-img": XSS, "c-script": script}, receiver)
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, stack)
    card = page.locator(".card[data-id='c-img']")
    card.wait_for(timeout=20_000)
    assert card.locator(".comment-text").text_content() == XSS
    assert page.locator(".card[data-id='c-script'] .comment-text").text_content() == script
    assert page.locator(".card img").count() == 0
    assert page.locator(".card script").count() == 0
    page.wait_for_timeout(1_000)  # time for an onerror handler, were there one
    assert page.title() == PAGE_TITLE
    assert dialogs == []
