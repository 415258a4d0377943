"""Detoxify on its real loading path, through a real worker process: a tiny checkpoint in
Detoxify's format, loaded by ``detoxify.Detoxify(checkpoint=..., huggingface_config_path=...)``
once per worker, its labels named in rules and returned in decisions."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import auth
from tests.e2e.test_pipeline import ARTICLE, wait_decision
from tests.fixtures.tiny_detoxify import UNBIASED_CLASSES, build_tiny_detoxify
from workers.runtime import SCORER_LOADS_KEY

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DETOXIFY_LABELS = {
    "toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack",
    "sexual_explicit",
}  # fmt: skip

RULES = """\
default: {action: approve, message: nothing stood out}
rules:
  - id: detoxify-labels
    when:
      all:
        - {score: insult, between: [0.0, 1.0]}
        - {score: identity_attack, between: [0.0, 1.0]}
        - {score: sexual_explicit, between: [0.0, 1.0]}
    action: escalate
    message: "insult {score.insult:.3f}, identity_attack {score.identity_attack:.3f}"
"""


def test_worker_scores_with_a_detoxify_checkpoint_and_rules_name_its_labels(
    database_url, redis_server, stack_factory, tmp_path
):
    tiny = build_tiny_detoxify(tmp_path / "detoxify", classes=UNBIASED_CLASSES)
    assert set(tiny.class_names) >= DETOXIFY_LABELS
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    stack = stack_factory(
        database_url,
        redis_server.url,
        MODERATION_TOXICITY_BACKEND="detoxify:unbiased",
        MODERATION_DETOXIFY_CHECKPOINT=str(tiny.checkpoint),
        MODERATION_DETOXIFY_CONFIG_DIR=str(tiny.config_dir),
        MODERATION_RULES=str(rules),
    )
    stack.start_api()
    stack.start_worker()
    with httpx.Client(base_url=stack.url, headers=auth("publisher"), timeout=40) as c:
        assert c.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201
        for cid in ("d1", "d2"):  # two jobs, one model load
            body = {"id": cid, "article_id": "pk-ru", "author": {"id": cid},
                    "text": "Russia will sell helicopters to Pakistan."}  # fmt: skip
            r = c.post("/v1/comments", json=body)
            assert r.status_code == 202
        results = [wait_decision(c, cid) for cid in ("d1", "d2")]
    for body in results:
        d = body["decision"]
        assert d is not None, stack.dump()
        assert DETOXIFY_LABELS <= set(body["scores"]), body["scores"]
        assert DETOXIFY_LABELS <= set(d["scores"])
        assert all(0.0 <= body["scores"][k] <= 1.0 for k in DETOXIFY_LABELS)
        assert d["action"] == "escalate"
        assert d["reasons"][0]["rule"] == "detoxify-labels"
        assert d["reasons"][0]["message"] == (
            f"insult {body['scores']['insult']:.3f}, "
            f"identity_attack {body['scores']['identity_attack']:.3f}"
        )
        assert body["evidence"]["toxicity"]["model"] == "detoxify:unbiased"
    loads = redis_server.client().hgetall(SCORER_LOADS_KEY)
    assert list(loads.values()) == [b"1"], loads
