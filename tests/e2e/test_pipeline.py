"""The whole path over real processes: HTTP → database → Redis/RQ → worker scores → rules
decide → decision stored and served."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import auth
from workers.runtime import SCORER_LOADS_KEY

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PUB = auth("publisher")

ARTICLE = {
    "title": "Pakistan turns to Russia for attack helicopters as US warms to India",
    "section": "world",
    "tags": ["pakistan", "russia", "defence"],
    "body": (
        "Pakistan's military leadership is seeking closer defence ties with Russia, hoping to buy "
        "Russian Mi-35 attack helicopters and win support for energy projects, as the United "
        "States deepens its partnership with India. Officials in Islamabad said the balance of "
        "power in South Asia was shifting and that they were looking at other arms markets. "
        "Russia's defence minister visited Islamabad last year and signed a military cooperation "
        "agreement. Analysts doubt Moscow would risk its long relationship with India, its biggest "
        "arms customer, for a few helicopter sales, and suggest the Kremlin may be using Pakistan "
        "as leverage. Pakistan's army chief also travelled to China, the country's largest arms "
        "supplier, to strengthen military and economic ties."
    ),
}


def wait_decision(client: httpx.Client, comment_id: str, timeout: float = 90) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while True:
        left = min(30.0, max(0.0, deadline - time.monotonic()))
        body = client.get(f"/v1/comments/{comment_id}", params={"wait": left}).json()
        if body["decision"] is not None or time.monotonic() >= deadline:
            return body


def test_comments_are_decided_end_to_end(database_url, redis_server, stack_factory):
    stack = stack_factory(database_url, redis_server.url)
    stack.start_api()
    stack.start_worker()
    with httpx.Client(base_url=stack.url, headers=PUB, timeout=40) as c:
        assert c.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201
        cases = {
            "civil": "Russia got a new customer for its helicopters. Pakistan is hedging its bets "
            "now that Washington is so close to New Delhi.",
            "abusive": "You are a fucking idiot and a piece of shit, shut up you stupid moron.",
            "spam": "EARN $$$ FROM HOME!!! Click http://cash-now.example.biz/join and subscribe "
            "to my channel www.best-deals.example.shop",
        }
        for cid, text in cases.items():
            r = c.post("/v1/comments", json={"id": cid, "article_id": "pk-ru", "text": text,
                                             "author": {"id": f"reader-{cid}"}})  # fmt: skip
            assert r.status_code == 202, r.text
        results = {cid: wait_decision(c, cid) for cid in cases}
    for cid, body in results.items():
        assert body["decision"] is not None, (cid, stack.dump())
        d = body["decision"]
        assert d["decided_by"] == "rules"
        assert len(d["rules_version"]) == 64
        assert d["reasons"] and all(r["rule"] and r["message"] for r in d["reasons"]), d
        assert {"toxicity", "relevance", "spam"} <= set(body["scores"])
        assert all(0.0 <= v <= 1.0 for v in body["scores"].values())
        assert body["decisions"][-1]["action"] == d["action"]
    assert results["civil"]["decision"]["action"] == "approve", results["civil"]
    assert results["civil"]["status"] == "approved"
    assert results["abusive"]["decision"]["action"] == "reject", results["abusive"]
    assert results["spam"]["decision"]["action"] in {"reject", "escalate"}, results["spam"]
    # Every comment was scored by the one worker, which built its models exactly once.
    loads = redis_server.client().hgetall(SCORER_LOADS_KEY)
    assert list(loads.values()) == [b"1"], loads
