"""Evidence spans off the decision path, over real processes: a comment is decided and its
webhook queued while its spans are still pending (the API and the review queue show them
as pending), and a real worker's explain job fills them in for the review queue. An
approved comment's spans are computed only when the API is asked for them (``?explain=true``)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from moderation.queue import EXPLAIN_JOB, explain_queue
from moderation.settings import Settings
from tests.conftest import auth
from tests.e2e.test_pipeline import ARTICLE
from workers.jobs import process_comments
from workers.runtime import Runtime

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RULES = """\
default:
  action: approve
  message: fine
rules:
  - id: possibly-toxic
    when: {score: toxicity, gte: 0.3}
    action: escalate
    priority: 30
    message: "toxicity {score.toxicity:.2f}"
"""

TEXT = "You are a fucking idiot and a stupid moron, shut up."


def _toxicity(body: dict) -> dict:
    return body["evidence"]["toxicity"]


def _api_with_rules(rules_text, database_url, redis_server, stack_factory, tmp_path, **extra):
    """A running API under ``rules_text``, and the settings of an in-test worker beside it
    (which decides here, so that the test sees the spans still pending)."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_text)
    stack = stack_factory(database_url, redis_server.url, MODERATION_RULES=str(rules))
    stack.start_api()
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        redis_url=redis_server.url,
        rules=rules,
        queue=stack.env["MODERATION_QUEUE"],
        var_dir=tmp_path / "var",
        **extra,
    )
    return stack, settings


def _post_and_decide(c: httpx.Client, pub: dict, settings: Settings) -> Runtime:
    """POST the rude comment through the API, then decide it in this process."""
    assert c.put("/v1/articles/pk-ru", json=ARTICLE, headers=pub).status_code == 201
    r = c.post(
        "/v1/comments",
        json={"id": "rude", "article_id": "pk-ru", "text": TEXT, "author": {"id": "r1"}},
        headers=pub,
    )
    assert r.status_code == 202, r.text
    runtime = Runtime.build(settings)
    assert process_comments(runtime, ["rude"])["decided"] == ["rude"]
    return runtime


def test_escalated_comment_gets_its_spans_from_the_explain_job(
    database_url, redis_server, stack_factory, tmp_path: Path
):
    stack, settings = _api_with_rules(
        RULES, database_url, redis_server, stack_factory, tmp_path,
        webhook_url="http://127.0.0.1:9/hook",
    )  # fmt: skip
    with httpx.Client(base_url=stack.url, timeout=40) as c:
        pub, mod = auth("publisher"), auth("moderator")
        # Decided here, as a worker's scoring job does; no explain job has run.
        runtime = _post_and_decide(c, pub, settings)
        assert explain_queue(runtime.redis, settings).count == 1

        body = c.get("/v1/comments/rude", headers=pub).json()
        assert body["status"] == "escalated"
        assert _toxicity(body)["spans"] is None and _toxicity(body)["spans_pending"] is True
        [item] = c.get("/v1/reviews", headers=mod).json()["items"]
        assert item["comment_id"] == "rude" and _toxicity(item)["spans_pending"] is True

        # A real worker serves the explain queue after scoring and webhooks.
        stack.start_worker()
        deadline = time.monotonic() + 120
        while True:
            [item] = c.get("/v1/reviews", headers=mod).json()["items"]
            if _toxicity(item)["spans"] is not None or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    spans = _toxicity(item)["spans"]
    assert spans is not None, stack.dump()
    assert "spans_pending" not in _toxicity(item)
    assert {span["text"] for span in spans} & {"fucking", "idiot", "stupid", "moron"}
    for span in spans:
        assert TEXT[span["start"] : span["end"]] == span["text"]


APPROVE_ALL = """\
default:
  action: approve
  message: fine
rules: []
"""


def test_an_approved_comment_gets_its_spans_when_the_api_is_asked_for_them(
    database_url, redis_server, stack_factory, tmp_path: Path
):
    stack, settings = _api_with_rules(
        APPROVE_ALL, database_url, redis_server, stack_factory, tmp_path
    )
    with httpx.Client(base_url=stack.url, timeout=40) as c:
        pub = auth("publisher")
        runtime = _post_and_decide(c, pub, settings)
        queue = explain_queue(runtime.redis, settings)
        assert queue.count == 0  # approved: nobody reads its spans, none computed yet

        body = c.get("/v1/comments/rude", headers=pub).json()
        assert body["status"] == "approved" and _toxicity(body)["spans_pending"] is True
        assert queue.count == 0  # a publisher polling for the decision asks for no spans
        queue.enqueue(EXPLAIN_JOB, ["earlier"])  # spans already waiting
        c.get("/v1/comments/rude?explain=true", headers=pub)
        assert queue.count == 2  # asked for: queued once, ahead of those already waiting
        assert queue.jobs[0].args == (["rude"], "default")
        c.get("/v1/comments/rude?explain=true", headers=pub)
        assert queue.count == 2  # asking again meanwhile queues no second job

        stack.start_worker()
        deadline = time.monotonic() + 120
        while True:
            body = c.get("/v1/comments/rude", headers=pub).json()
            if _toxicity(body)["spans"] is not None or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert _toxicity(body)["spans"], stack.dump()
    assert {span["text"] for span in _toxicity(body)["spans"]} & {"fucking", "idiot", "stupid"}
