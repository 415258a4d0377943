"""Readers' reports over real processes: the API stores each report and queues the
comment's reconsideration; a scoring worker evaluates the approved comment again with its
stored scores and the reports; the webhook worker tells a real receiver it was hidden, and
later what the moderator decided."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlalchemy import func, select

from moderation import webhooks
from moderation.db import CommentReport, make_engine
from tests.conftest import auth
from tests.e2e.test_pipeline import ARTICLE, wait_decision
from tests.receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECRET = "publisher-shared-secret-for-tests"
CIVIL = "Pakistan is hedging its bets now that Washington is so close to New Delhi."


def wait_status(client: httpx.Client, cid: str, status: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/v1/comments/{cid}").json()
        if body["status"] == status or time.monotonic() > deadline:
            return dict(body)
        time.sleep(0.2)


def wait_reconsidered(database_url: str, n: int, timeout: float = 60) -> bool:
    """Whether the worker reconsidered ``n`` reports (it marks them) within ``timeout``."""
    engine = make_engine(database_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                done = conn.scalar(
                    select(func.count(CommentReport.id)).where(
                        CommentReport.reconsidered_at.is_not(None)
                    )
                )
            if done == n:
                return True
            time.sleep(0.2)
        return False
    finally:
        engine.dispose()


def test_an_approved_comment_reported_by_three_readers_goes_back_hidden(
    database_url, redis_server, stack_factory
):
    with Receiver() as receiver:
        stack = stack_factory(
            database_url,
            redis_server.url,
            MODERATION_WEBHOOK_URL=receiver.url,
            MODERATION_WEBHOOK_SECRET=SECRET,
            MODERATION_REPORT_HIDE_THRESHOLD="3",
        )
        stack.start_api()
        stack.start_worker()
        stack.start_webhook_worker()
        stack.wait_ready()
        pub = httpx.Client(base_url=stack.url, headers=auth("publisher"), timeout=40)
        mod = httpx.Client(base_url=stack.url, headers=auth("moderator"), timeout=40)
        with pub, mod:
            assert pub.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201
            r = pub.post("/v1/comments", json={"id": "c1", "article_id": "pk-ru", "text": CIVIL,
                                               "author": {"id": "writer"}})  # fmt: skip
            assert r.status_code == 202, r.text
            assert wait_decision(pub, "c1")["status"] == "approved", stack.dump()
            receiver.wait_for(lambda r: r.headers["x-moderation-event"] == "comment.decided")

            def report(reader: str, reason: str) -> httpx.Response:
                body = {"reporter_id": reader, "reason": reason}
                return pub.post("/v1/comments/c1/reports", json=body)

            first, second = report("reader-1", "abusive"), report("reader-2", "spam")
            assert (first.status_code, second.status_code) == (201, 201)
            again = report("reader-1", "other")  # the same reader: the same report
            assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
            assert again.json()["reports"]["total"] == 2
            assert again.json()["report"]["reason"] == "abusive"
            # Two readers are not enough: the worker leaves it approved and published.
            assert wait_reconsidered(database_url, 2), stack.dump()
            assert pub.get("/v1/comments/c1").json()["status"] == "approved", stack.dump()

            third = report("reader-3", "abusive")
            assert third.status_code == 201 and third.json()["outcome"] == "reconsidering"
            assert third.json()["reports"]["total"] == 3
            body = wait_status(pub, "c1", "escalated")
            assert body["status"] == "escalated", stack.dump()
            assert body["hidden_at"] is not None
            assert body["reports"]["by_reason"] == {"abusive": 2, "off_topic": 0, "spam": 1,
                                                    "other": 0}  # fmt: skip
            latest = body["decision"]
            assert latest["action"] == "escalate" and latest["decided_by"] == "rules"
            assert {"rule": "reported", "message": "reported by 3 readers (2 abusive, 1 spam)"} in (
                latest["reasons"]
            )

            [hidden] = receiver.wait_for(
                lambda r: r.headers["x-moderation-event"] == "comment.hidden"
            )
            assert webhooks.verify(hidden.body, SECRET, hidden.headers["x-moderation-signature"])
            payload = json.loads(hidden.body)
            assert payload["comment_id"] == "c1" and payload["reports"]["total"] == 3
            assert payload["hidden_at"] == body["hidden_at"].replace("+00:00", "Z")

            [review] = mod.get("/v1/reviews").json()["items"]
            assert review["comment_id"] == "c1" and review["priority"] == 50
            listed = mod.get("/v1/comments/c1/reports").json()
            assert [i["reporter_id"] for i in listed["items"]] == [
                "reader-1", "reader-2", "reader-3"
            ]  # fmt: skip

            r = mod.post("/v1/reviews/c1/decision", json={"action": "approve"})
            assert r.status_code == 201, r.text
            receiver.wait_for(
                lambda r: (
                    r.headers["x-moderation-event"] == "comment.decided"
                    and json.loads(r.body)["decided_by"] == "moderator"
                )
            )
        events = [r.headers["x-moderation-event"] for r in receiver.received]
    # Approved by the rules, hidden once, approved by the moderator; no escalation webhook.
    assert events == ["comment.decided", "comment.hidden", "comment.decided"], stack.dump()
