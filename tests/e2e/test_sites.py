"""Two sites over real processes (API, a scoring worker, a webhook worker): both send
comment 42 with the same text under the same article id; each is decided by its own site's
rules, and each site's receiver gets only its own deliveries, signed with its own secret
(issue #16, "done when")."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from moderation import webhooks
from tests.conftest import ROOT
from tests.e2e.test_pipeline import ARTICLE, wait_decision
from tests.receiver import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAILY, EVENING = "daily-news", "evening-post"
KEYS = {DAILY: "daily-publisher-key-0123456789", EVENING: "evening-publisher-key-0123456789"}
SECRETS = {DAILY: "daily-secret-0123456789", EVENING: "evening-secret-0123456789"}
TEXT = "Pakistan is hedging its bets now that Washington is so close to New Delhi. Hmm."
STRICT = """\
# The Evening Post holds every comment that mentions Washington for a person.
rules:
  - id: washington-watch
    when: {words: [washington]}
    action: escalate
    priority: 10
    message: "mentions Washington: the desk reads these"
default:
  action: approve
  message: "approved by the Evening Post's rules"
"""


def moderation(env: dict[str, str], *argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "moderation", *argv], env=env, cwd=ROOT, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_same_comment_id_on_two_sites_is_decided_by_each_sites_rules_and_webhook(
    database_url, redis_server, stack_factory, tmp_path
):
    rules = tmp_path / "evening-post.yaml"
    rules.write_text(STRICT)
    keys = ",".join(f"publisher@{site}:{key}" for site, key in KEYS.items())
    with Receiver() as daily, Receiver() as evening:
        stack = stack_factory(database_url, redis_server.url, MODERATION_API_KEYS=keys)
        for site, receiver, extra in (
            (DAILY, daily, []),
            (EVENING, evening, ["--rules", str(rules)]),
        ):
            moderation(stack.env, "sites", "create", site, "--webhook-url", receiver.url,
                       "--webhook-secret", SECRETS[site], *extra)  # fmt: skip
        stack.start_api()
        stack.start_worker()
        stack.start_webhook_worker()
        results = {}
        for site, key in KEYS.items():
            with httpx.Client(base_url=stack.url, timeout=60,
                              headers={"Authorization": f"Bearer {key}"}) as c:  # fmt: skip
                assert c.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201
                body = {"id": "42", "article_id": "pk-ru", "text": TEXT,
                        "author": {"id": "reader-7"}}  # fmt: skip
                assert c.post("/v1/comments", json=body).status_code == 202
                results[site] = wait_decision(c, "42")
        rules = {site: [r["rule"] for r in body["decision"]["reasons"]]
                 for site, body in results.items()}  # fmt: skip
        assert results[DAILY]["decision"]["action"] == "approve", results[DAILY]
        assert "washington-watch" not in rules[DAILY]
        assert results[EVENING]["decision"]["action"] == "escalate", results[EVENING]
        assert rules[EVENING] == ["washington-watch"]
        assert (
            results[DAILY]["decision"]["rules_version"]
            != (results[EVENING]["decision"]["rules_version"])
        )

        for site, receiver, event in ((DAILY, daily, "comment.decided"),
                                      (EVENING, evening, "comment.escalated")):  # fmt: skip
            [got] = receiver.wait_for(lambda r: True, timeout=60)
            payload = json.loads(got.body)
            assert payload["event"] == event and payload["comment_id"] == "42", payload
            signature = got.headers["x-moderation-signature"]
            assert webhooks.verify(got.body, SECRETS[site], signature)
            other = EVENING if site == DAILY else DAILY
            assert not webhooks.verify(got.body, SECRETS[other], signature)
        # Each receiver got exactly its own site's one delivery.
        assert len(daily.received) == 1 and len(evening.received) == 1
