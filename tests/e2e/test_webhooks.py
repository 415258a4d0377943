"""Webhooks over real processes: the worker decides, the outbox delivers, RQ's scheduler
retries a failing publisher with backoff until it answers 2xx."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from moderation import webhooks
from tests.conftest import auth
from tests.e2e.test_pipeline import ARTICLE
from tests.receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECRET = "publisher-shared-secret-for-tests"


def test_failing_publisher_gets_the_third_attempt_signed_and_identical(
    database_url, redis_server, stack_factory
):
    with Receiver(fail_first=2, fail_status=500) as receiver:
        stack = stack_factory(
            database_url,
            redis_server.url,
            MODERATION_WEBHOOK_URL=receiver.url,
            MODERATION_WEBHOOK_SECRET=SECRET,
            MODERATION_WEBHOOK_RETRY_INTERVALS="1,2,60",
        )
        stack.start_api()
        stack.start_worker()
        with httpx.Client(base_url=stack.url, headers=auth("publisher"), timeout=30) as c:
            assert c.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201
            r = c.post("/v1/comments", json={
                "id": "civil", "article_id": "pk-ru", "author": {"id": "reader-1"},
                "text": "Pakistan is hedging its bets now that Washington is so close to Delhi.",
            })  # fmt: skip
            assert r.status_code == 202, r.text
        receiver.wait_for(lambda r: r.status == 200, timeout=120)
        got = list(receiver.received)
    assert [r.status for r in got] == [500, 500, 200], stack.dump()
    assert len({r.body for r in got}) == 1
    assert len({r.headers["x-moderation-delivery"] for r in got}) == 1
    for r in got:
        assert webhooks.verify(r.body, SECRET, r.headers["x-moderation-signature"])
        assert r.headers["x-moderation-event"] == "comment.decided"
    payload = json.loads(got[0].body)
    assert payload["comment_id"] == "civil" and payload["decided_by"] == "rules"
    assert payload["action"] == "approve" and len(payload["rules_version"]) == 64

    with httpx.Client(base_url=stack.url, headers=auth("admin"), timeout=30) as c:
        deadline = time.monotonic() + 10
        while True:  # the third attempt is logged just after the receiver answers
            [entry] = c.get("/v1/webhooks/deliveries").json()
            if entry["status"] == "delivered" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert entry["id"] == got[0].headers["x-moderation-delivery"]
    assert entry["status"] == "delivered" and entry["body"].encode() == got[0].body
    assert [(a["number"], a["status_code"]) for a in entry["attempt_log"]] == [
        (1, 500), (2, 500), (3, 200)
    ]  # fmt: skip
