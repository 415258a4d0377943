"""``/metrics`` and the logs over real processes (issue #17, "done when"): decisions made
by a separate worker process, and a moderator's, appear in one scrape of the API with the
right counts and latency histogram; the worker logs one JSON event per state change, with
ids and no text."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from sqlalchemy import text as sql

from tests.conftest import auth
from tests.e2e.test_pipeline import ARTICLE, wait_decision
from tests.receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TEXTS = {
    "civil-1": "Russia got a new customer for its helicopters. Pakistan is hedging its bets now "
    "that Washington is so close to New Delhi.",
    "civil-2": "Islamabad buying Russian helicopters will worry New Delhi more than Washington.",
    "abusive-1": "You are a fucking idiot and a piece of shit, shut up you stupid moron.",
    "abusive-2": "Shut up you worthless piece of shit, nobody cares what a moron like you thinks.",
    "off-topic": "My tomato soup needs more basil and a spoon of cream, then it is perfect.",
    "held-1": "Moscow will not risk India, its biggest arms customer, for a few helicopters.",
    "held-2": "China remains Pakistan's largest arms supplier whatever Russia sells them.",
}
NEWCOMER = "newcomer"
"""The author of the held-* comments: premoderated, so the rules escalate them."""


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, by name and labels."""
    response = httpx.get(f"{url}/metrics", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return float(samples.get((name, tuple(sorted(labels.items()))), 0.0))


def latency(body: dict) -> float:
    decided = datetime.fromisoformat(body["decisions"][-1]["decided_at"])
    return (decided - datetime.fromisoformat(body["received_at"])).total_seconds()


def test_a_scrape_shows_the_decisions_of_a_separate_worker_and_a_moderator(
    database_url, redis_server, stack_factory
):
    with Receiver() as receiver:
        stack = stack_factory(
            database_url,
            redis_server.url,
            MODERATION_WEBHOOK_URL=receiver.url,
            MODERATION_LOG_FORMAT="json",
        )
        stack.start_api()
        worker = stack.start_worker()
        stack.start_webhook_worker()
        stack.wait_ready()
        pub = httpx.Client(base_url=stack.url, headers=auth("publisher"), timeout=40)
        mod = httpx.Client(base_url=stack.url, headers=auth("moderator"), timeout=40)
        with pub, mod:
            assert pub.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201
            r = mod.put(f"/v1/authors/{NEWCOMER}/status", json={"status": "premoderated"})
            assert r.status_code == 200, r.text
            for cid, text in TEXTS.items():
                author = NEWCOMER if cid.startswith("held") else cid
                body = {"id": cid, "article_id": "pk-ru", "text": text, "author": {"id": author}}
                r = pub.post("/v1/comments", json=body)
                assert r.status_code == 202, r.text
            bodies = {cid: wait_decision(pub, cid) for cid in TEXTS}
            assert all(b["decision"] for b in bodies.values()), stack.dump()
            escalated = [cid for cid, b in bodies.items() if b["status"] == "escalated"]
            assert escalated == ["held-1", "held-2"], {c: b["status"] for c, b in bodies.items()}
            moderated = escalated[0]
            r = mod.post(f"/v1/reviews/{moderated}/decision", json={"action": "approve"})
            assert r.status_code == 201, r.text
            final = pub.get(f"/v1/comments/{moderated}").json()

        # The worker's decisions, by (action, rule), as the database holds them.
        engine = create_engine(database_url)
        with engine.connect() as conn:
            rows = conn.execute(
                sql("SELECT comment_id, action, rule FROM decisions WHERE decided_by = 'rules'")
            ).all()
        engine.dispose()
        assert len(rows) == len(TEXTS)
        rule_of = {cid: rule or "" for cid, _, rule in rows}
        by_rule = dict(Counter((action, rule or "") for _, action, rule in rows))
        rules_latency = [latency(b) for b in bodies.values()]
        deliveries = sum(1 for b in bodies.values() if b["status"] != "escalated") + 1

        # Counts reach Redis within a second or so of each pass and delivery.
        deadline = time.monotonic() + 30
        while True:
            samples = scrape(stack.url)
            if (
                value(samples, "moderation_webhook_deliveries_total", outcome="delivered")
                >= deliveries
                and value(
                    samples,
                    "moderation_decisions_total",
                    site="default",
                    action="approve",
                    decided_by="moderator",
                    rule="",
                )
                == 1
            ) or time.monotonic() > deadline:
                break
            time.sleep(0.5)

    assert value(samples, "moderation_comments_received_total", site="default") == len(TEXTS)
    for (action, rule), count in by_rule.items():
        got = value(
            samples,
            "moderation_decisions_total",
            site="default",
            action=action,
            decided_by="rules",
            rule=rule,
        )
        assert got == count, (action, rule, samples)
    worker_decisions = sum(
        v
        for (name, labels), v in samples.items()
        if name == "moderation_decisions_total" and ("decided_by", "rules") in labels
    )
    assert worker_decisions == len(TEXTS)

    # The latency histogram of the worker's decisions: count, sum and every bucket.
    rules_labels = {"site": "default", "decided_by": "rules"}
    name = "moderation_decision_latency_seconds"
    assert value(samples, f"{name}_count", **rules_labels) == len(TEXTS)
    assert value(samples, f"{name}_sum", **rules_labels) == pytest.approx(
        sum(rules_latency), abs=0.01 * len(TEXTS)
    )
    for bound in ("0.5", "1.0", "5.0", "60.0", "+Inf"):
        limit = float(bound)
        expected = sum(1 for s in rules_latency if s <= limit)
        # A latency within 5 ms of a bound may fall either side (stored to the millisecond).
        near = sum(1 for s in rules_latency if abs(s - limit) < 0.005)
        got = value(samples, f"{name}_bucket", le=bound, **rules_labels)
        assert abs(got - expected) <= near, (bound, got, expected, rules_latency)
    mod_labels = {"site": "default", "decided_by": "moderator"}
    assert value(samples, f"{name}_count", **mod_labels) == 1
    assert value(samples, f"{name}_sum", **mod_labels) == pytest.approx(latency(final), abs=0.01)

    # The scorers ran in batches; the requests were counted by route template.
    assert value(samples, "moderation_scorer_batch_size_sum", scorer="toxicity") == len(TEXTS)
    assert value(samples, "moderation_scorer_duration_seconds_count", scorer="toxicity") >= 1
    assert value(
        samples,
        "moderation_http_requests_total",
        method="POST",
        route="/v1/comments",
        status="202",
    ) == len(TEXTS)
    # Gauges measured at the scrape: nothing waits, a scoring worker is alive and idle.
    assert value(samples, "moderation_comments_pending", site="default") == 0
    assert value(samples, "moderation_escalations_waiting", site="default") == len(escalated) - 1
    assert value(samples, "moderation_workers", kind="scoring", state="idle") == 1
    assert value(samples, "moderation_workers_busy", kind="scoring") == 0
    assert value(samples, "moderation_webhook_backlog", site="default", status="pending") == 0

    # The worker's log: one JSON event per decision, with ids and latency, never the text.
    stack.stop()
    log_text = next(p for p in stack.logs if p.name.startswith("worker")).read_text()
    records = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    assert any(r["message"].startswith("worker ") and "ready" in r["message"] for r in records)
    events = [r for r in records if r["logger"] == "moderation.state_changes"]
    decided = {e["comment_id"]: e for e in events}
    assert len(events) == len(decided) == len(TEXTS), events
    assert set(decided) == set(TEXTS)
    for cid, event in decided.items():
        d = bodies[cid]["decisions"][0]
        assert event["event"] == f"comment.{d['action']}"
        assert (event["site"], event["action"]) == ("default", d["action"])
        assert (event["rule"] or "") == rule_of[cid]
        assert event["decided_by"] == "rules"
        assert event["latency_ms"] == pytest.approx(latency(bodies[cid]) * 1000, abs=10)
        assert "text" not in event
    for text in TEXTS.values():
        assert text not in log_text
    assert worker.poll() is not None
