"""A moderator's second day (issue #15, "done when"): a real API server, a scoring worker and
a webhook worker, Chromium, and a receiver standing in for the publisher.

A comment the rules approved gets 3 reports from distinct readers and goes back to review;
the moderator's page, open all along, shows it without a reload; the moderator selects it and
two other escalated comments with the keyboard (x, shift+j), picks a reason with its key,
rejects the three at once, and undoes the last with `u`. The publisher hears exactly: the
rules' original decisions, and the two kept rejections with their reason code; nothing of
the undone one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from moderation import reasons
from tests.browser import launch_chromium
from tests.conftest import API_KEYS, auth
from tests.e2e.test_pipeline import ARTICLE
from tests.e2e.test_reports import wait_status
from tests.receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.browser]

PUB = auth("publisher")
UNDO_SECONDS = 4
RULES = """\
# Test rules: reported comments and those with the word "flagme" go to a person.
rules:
  - id: reported
    when: {reports: {gte: 3}}
    action: escalate
    priority: 50
    message: "reported by {reports.total} readers"
  - id: flagged
    when: {words: [flagme]}
    action: escalate
    priority: 5
    message: "flagged by the test rules"
default:
  action: approve
  message: "approved by the test rules"
"""
REASON = "off-topic"


@pytest.fixture
def browser():
    yield from launch_chromium()


def events(receiver: Receiver) -> list[tuple[str, str, str | None]]:
    out = []
    for r in receiver.received:
        body = json.loads(r.body)
        out.append((body["event"], body["comment_id"], body.get("action")))
    return out


def test_reported_comment_bulk_rejected_with_a_reason_and_one_undone(
    database_url, redis_server, stack_factory, tmp_path: Path, browser
):
    rules = tmp_path / "second-day.yaml"
    rules.write_text(RULES)
    key = str(next(r.key for r in reasons.REASONS if r.code == REASON))
    with Receiver() as receiver:
        stack = stack_factory(
            database_url,
            redis_server.url,
            MODERATION_RULES=str(rules),
            MODERATION_WEBHOOK_URL=receiver.url,
            MODERATION_WEBHOOK_SECRET="publisher-shared-secret-for-tests",
            MODERATION_UNDO_SECONDS=str(UNDO_SECONDS),
        )
        stack.start_api()
        stack.start_worker()
        stack.start_webhook_worker()
        stack.wait_ready()
        with httpx.Client(base_url=stack.url, headers=PUB, timeout=40) as pub:
            assert pub.put("/v1/articles/pk-ru", json=ARTICLE).status_code in (200, 201)
            texts = {
                "c-rep": "Pakistan is hedging its bets now that Washington is so close.",
                "e1": "flagme: this one goes to a person first.",
                "e2": "flagme: and so does this one, a little later.",
            }
            for n, (cid, text) in enumerate(texts.items()):
                body = {"id": cid, "article_id": "pk-ru", "text": text,
                        "author": {"id": f"reader-{n}"}}  # fmt: skip
                assert pub.post("/v1/comments", json=body).status_code == 202
                time.sleep(0.05)  # e1 before e2 in the queue (oldest first)
            assert wait_status(pub, "c-rep", "approved")["status"] == "approved", stack.dump()
            assert wait_status(pub, "e2", "escalated")["status"] == "escalated", stack.dump()
            assert wait_status(pub, "e1", "escalated")["status"] == "escalated", stack.dump()

            context = browser.new_context(viewport={"width": 1200, "height": 900})
            page = context.new_page()
            page.goto(f"{stack.url}/moderate")
            page.fill("#key", API_KEYS["moderator"])
            page.click("button[type=submit]")
            page.wait_for_selector("body.queue-page[data-loaded='1']", timeout=20_000)
            page.locator(".card[data-id='e2']").wait_for(timeout=20_000)

            for reader in ("r1", "r2", "r3"):
                r = pub.post("/v1/comments/c-rep/reports",
                             json={"reporter_id": reader, "reason": "abusive"})  # fmt: skip
                assert r.status_code in (200, 201, 202), r.text
            assert wait_status(pub, "c-rep", "escalated")["status"] == "escalated", stack.dump()
            # The open page shows it without a reload (polling), at the top (priority 50).
            page.locator(".card[data-id='c-rep']").wait_for(timeout=20_000)
            assert page.locator(".card").first.get_attribute("data-id") == "c-rep"

            page.wait_for_timeout(1200)  # past any settle time the new card brought
            page.keyboard.press("k")
            page.wait_for_selector(".card.selected[data-id='c-rep']")
            page.keyboard.press("x")
            page.keyboard.press("Shift+J")
            page.keyboard.press("Shift+J")
            assert page.locator("#bulk-count").inner_text() == "3 selected:"
            page.keyboard.press(key)
            assert (
                page.locator(".reason-pick[aria-pressed='true']").get_attribute("data-reason")
                == REASON
            )
            page.keyboard.press("r")
            page.wait_for_selector("#toast:has-text('Rejected 3 comments')", timeout=20_000)
            page.keyboard.press("u")
            page.wait_for_selector("#toast:has-text('Undone: e2')", timeout=20_000)
            page.locator(".card[data-id='e2']").wait_for(timeout=20_000)
            assert page.locator(".card").count() == 1
            context.close()

            assert wait_status(pub, "e2", "escalated")["status"] == "escalated"
            # The kept rejections reach the publisher after the undo window.
            receiver.wait_for(
                lambda r: (
                    json.loads(r.body)["comment_id"] == "e1"
                    and json.loads(r.body).get("action") == "reject"
                ),
                timeout=60,
            )
            receiver.wait_for(
                lambda r: (
                    json.loads(r.body)["comment_id"] == "c-rep"
                    and json.loads(r.body).get("action") == "reject"
                ),
                timeout=60,
            )
            time.sleep(UNDO_SECONDS + 3)  # anything for e2 would have been sent by now
        got = events(receiver)
        assert sorted(set(got)) == sorted(
            {
                ("comment.decided", "c-rep", "approve"),
                ("comment.escalated", "e1", "escalate"),
                ("comment.escalated", "e2", "escalate"),
                ("comment.decided", "c-rep", "reject"),
                ("comment.decided", "e1", "reject"),
            }
        ), got
        rejections = [
            json.loads(r.body)
            for r in receiver.received
            if json.loads(r.body).get("action") == "reject"
        ]
        assert {b["reason_code"] for b in rejections} == {REASON}
