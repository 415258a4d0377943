"""Rules change under running processes: the worker decides with a changed file within
5 seconds and drops no job; a file that fails validation is refused and logged, the last
good version keeps deciding, and ``/readyz`` and ``GET /v1/rules`` say so."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest

from moderation.defaults import DEFAULT_WORKER_HEARTBEAT_TTL_SECONDS
from moderation.policy import load_rules
from tests.conftest import ROOT, auth
from tests.e2e.test_pipeline import ARTICLE, wait_decision
from tests.e2e.test_worker_faults import assert_decided_once, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PUB, ADMIN = auth("publisher"), auth("admin")
CIVIL = "Pakistan is hedging its bets on helicopters now that Washington is so close to Delhi."
NEW_RULE = """
  - id: no-helicopter-talk
    when: {words: [helicopter, helicopters]}
    action: reject
    priority: 200
    message: "banned topic: {matched}"
"""
RELOAD_WITHIN = 5.0


def copy_rules(tmp_path: Path) -> Path:
    rules_dir = tmp_path / "rules"
    shutil.copytree(ROOT / "rules" / "words", rules_dir / "words")
    path = rules_dir / "site.yaml"
    shutil.copy(ROOT / "rules" / "default.yaml", path)
    return path


def add_rule(text: str) -> str:
    head, sep, tail = text.partition("\ntests:")
    return head.rstrip("\n") + "\n" + NEW_RULE + sep + tail


def post(c: httpx.Client, cid: str, text: str = CIVIL) -> None:
    body = {"id": cid, "article_id": "pk-ru", "text": text, "author": {"id": f"reader-{cid}"}}
    r = c.post("/v1/comments", json=body)
    assert r.status_code == 202, r.text


def reasons(decision: dict) -> dict[str, str]:
    return {r["rule"]: r["message"] for r in decision["reasons"]}


def decided(c: httpx.Client, cid: str, stack) -> dict:
    body = wait_decision(c, cid)
    assert body["decision"] is not None, (cid, stack.dump())
    return body["decision"]


def test_workers_pick_up_a_changed_rules_file_and_refuse_a_broken_one(
    database_url, redis_server, stack_factory, tmp_path
):
    rules = copy_rules(tmp_path)
    v1 = load_rules(rules).version
    stack = stack_factory(database_url, redis_server.url, MODERATION_RULES=str(rules))
    stack.start_api()
    stack.start_worker()
    with (
        httpx.Client(base_url=stack.url, headers=PUB, timeout=40) as c,
        httpx.Client(base_url=stack.url, headers=ADMIN, timeout=40) as admin,
    ):
        assert c.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201
        post(c, "before")
        before = decided(c, "before", stack)
        assert (before["action"], before["rules_version"]) == ("approve", v1), before

        # Comments keep arriving while the file changes: none may be dropped.
        for i in range(3):
            post(c, f"during-{i}")
        rules.write_text(add_rule(rules.read_text()))  # in place, as an editor saves
        changed_at = time.monotonic()
        v2 = load_rules(rules).version
        assert v2 != v1
        for i in range(3, 6):
            post(c, f"during-{i}")
        during = [decided(c, f"during-{i}", stack) for i in range(6)]
        assert {d["rules_version"] for d in during} <= {v1, v2}, during

        time.sleep(max(0.0, RELOAD_WITHIN - (time.monotonic() - changed_at)))
        post(c, "after")
        after = decided(c, "after", stack)
        assert after["rules_version"] == v2, (after, stack.dump())
        assert after["action"] == "reject", after
        assert reasons(after)["no-helicopter-talk"] == "banned topic: helicopters"

        # The version the worker activated is stored, and so is the API's.
        stored = admin.get(f"/v1/rules/versions/{v2}")
        assert stored.status_code == 200, stored.text
        assert stored.json()["content"] == rules.read_text()
        assert admin.get(f"/v1/rules/versions/{v1}").status_code == 200
        active = admin.get("/v1/rules").json()
        assert active["version"] == v2
        assert active["rule_ids"][-1] == "no-helicopter-talk"

        # A broken file is refused; the last good version keeps deciding.
        broken = rules.read_text().replace(
            'reject\n    priority: 200\n    message: "banned',
            'rejct\n    priority: 200\n    message: "banned',
        )
        rules.write_text(broken)
        refused_at = time.monotonic()
        # The API notices by itself: /readyz stays ready and says which version decides.
        ready = wait_for(
            "/readyz naming the refused file",
            lambda: (r := c.get("/readyz").json())["warnings"] and r,
            timeout=RELOAD_WITHIN,
            stack=stack,
        )
        assert ready["status"] == "ok" and ready["failing"] == [], ready
        [error] = ready["checks"]["rules"]["refused_reload"]
        assert ready["checks"]["rules"]["version"] == v2
        assert ready["warnings"] == [
            f"rules: {rules} was refused (1 problem(s): {error}); version {v2[:12]} keeps deciding"
        ]
        listed = admin.get("/v1/rules").json()
        assert (listed["version"], listed["refused_reload"]) == (v2, [error]), listed
        # So does the worker, in its heartbeat (refreshed every third of its TTL).
        [beat] = wait_for(
            "the worker's heartbeat naming the refused file",
            lambda: [
                b for b in c.get("/readyz").json()["checks"]["workers"]["workers"]
                if b.get("rules_refused")
            ],
            timeout=RELOAD_WITHIN + DEFAULT_WORKER_HEARTBEAT_TTL_SECONDS,
            stack=stack,
        )  # fmt: skip
        assert (beat["rules_version"], beat["rules_refused"]) == (v2, [error]), beat
        refused = admin.post("/v1/rules/reload")
        assert refused.status_code == 422, refused.text
        body = refused.json()
        assert body["error"] == "rules_refused"
        assert body["active_version"] == v2
        assert body["errors"] == [error]
        added = len(active["rule_ids"]) - 1  # the rule this test appended is the last one
        assert error.startswith(f"{rules}:") and error.endswith(
            f"rules[{added}].action: 'rejct' is not one of approve, reject, escalate"
        ), error
        assert [f["message"] for f in body["fields"]] == body["errors"]
        assert admin.get("/v1/rules").json()["refused_reload"] == [error]

        time.sleep(max(0.0, RELOAD_WITHIN - (time.monotonic() - refused_at)))
        post(c, "broken")
        still = decided(c, "broken", stack)
        assert still["rules_version"] == v2, still
        assert still["action"] == "reject" and "no-helicopter-talk" in reasons(still), still
        assert admin.get(f"/v1/rules/versions/{'0' * 64}").status_code == 404

    worker_log = "\n".join(p.read_text(errors="replace") for p in stack.logs if "worker" in p.name)
    assert f"rules file {rules} refused; still using version {v2[:12]}" in worker_log, worker_log
    assert error in worker_log
    assert all(w.poll() is None for w in stack.workers)
    assert_decided_once(database_url, ["before", *(f"during-{i}" for i in range(6)), "after",
                                       "broken"])  # fmt: skip
