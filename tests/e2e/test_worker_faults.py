"""Workers that cannot decide, over real processes: readiness means a worker has loaded its
scorers (seen through its heartbeat); a worker whose model fails to load takes no jobs,
says why in ``/readyz`` and keeps trying, and the comments wait for a good worker."""

from __future__ import annotations

import socket
import time
from collections import Counter
from collections.abc import Iterable

import httpx
import pytest
from rq import Worker
from sqlalchemy import select

from moderation.db import Comment, Decision, make_engine
from tests.conftest import auth
from tests.e2e.test_pipeline import ARTICLE, wait_decision

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PUB = auth("publisher")


def automatic_decisions(database_url: str) -> tuple[dict[str, str], Counter[str]]:
    """Every stored comment's status, and how many automatic (not a moderator's) decisions
    each has."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            statuses = {
                cid: status for cid, status in conn.execute(select(Comment.id, Comment.status))
            }
            decided = Counter(
                cid
                for (cid,) in conn.execute(
                    select(Decision.comment_id).where(Decision.decided_by != "moderator")
                )
            )
    finally:
        engine.dispose()
    return statuses, decided


def assert_decided_once(database_url: str, ids: Iterable[str]) -> None:
    """The database holds exactly these comments, none pending, each with one automatic
    decision."""
    statuses, decided = automatic_decisions(database_url)
    assert set(statuses) == set(ids), sorted(set(statuses) ^ set(ids))
    assert [c for c, s in statuses.items() if s == "pending"] == []
    assert decided == Counter({cid: 1 for cid in statuses}), decided - Counter(set(statuses))


def wait_for(what: str, check, timeout: float = 60.0, stack=None):  # type: ignore[no-untyped-def]
    """Poll ``check`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{what}: not within {timeout:.0f} s\n" + (stack.dump() if stack else "")
            )
        time.sleep(0.2)


def wait_worker_ready(stack, pid: int, timeout: float = 120.0) -> dict:  # type: ignore[no-untyped-def]
    """Until ``/readyz`` shows the worker of ``pid`` ready (scorers loaded); its heartbeat.
    Not only a 200: a worker killed moments ago still counts until its heartbeat expires."""

    def seen() -> dict | None:
        checks = httpx.get(f"{stack.url}/readyz", timeout=5).json()["checks"]
        beats = checks["workers"].get("workers", [])
        return next((b for b in beats if b["pid"] == pid and b["state"] == "ready"), None)

    return dict(wait_for(f"worker pid {pid} ready", seen, timeout, stack))


def post(c: httpx.Client, cid: str, text: str) -> None:
    body = {"id": cid, "article_id": "pk-ru", "text": text, "author": {"id": f"reader-{cid}"}}
    r = c.post("/v1/comments", json=body)
    assert r.status_code == 202, r.text


def test_readiness_waits_for_a_worker_and_a_broken_model_takes_no_jobs(
    database_url, redis_server, stack_factory, tmp_path
):
    stack = stack_factory(database_url, redis_server.url)
    stack.start_api()
    with httpx.Client(base_url=stack.url, headers=PUB, timeout=40) as c:
        # No worker at all (MODERATION_WORKERS=0, or none started yet): not ready.
        r = c.get("/readyz")
        assert (r.status_code, r.json()["failing"]) == (503, ["workers"]), r.text
        assert r.json()["checks"]["workers"]["error"] == (
            "no worker has loaded its scorers: no worker has sent a heartbeat in the last "
            "15 s (start one: moderation worker)"
        )

        missing = tmp_path / "missing.ckpt"
        bad = stack.start_worker(
            MODERATION_TOXICITY_BACKEND="detoxify:original",
            MODERATION_DETOXIFY_CHECKPOINT=str(missing),
            MODERATION_WORKER_LOAD_RETRY_SECONDS="1",
        )

        def failed_worker() -> dict | None:
            beats = c.get("/readyz").json()["checks"]["workers"].get("workers", [])
            return next((b for b in beats if b["attempts"] >= 2), None) if beats else None

        # It keeps trying (attempts counts up) and keeps saying why.
        beat = wait_for("the broken worker's heartbeat", failed_worker, stack=stack)
        assert (beat["state"], beat["pid"], beat["host"]) == (
            "failed",
            bad.pid,
            socket.gethostname(),
        )
        reason = (
            "loading its scorers toxicity,relevance,spam failed: ModelUnavailableError: "
            f"Detoxify checkpoint '{missing}' (MODERATION_DETOXIFY_CHECKPOINT) does not exist."
        )
        assert beat["error"].startswith(reason), beat
        r = c.get("/readyz")
        assert (r.status_code, r.json()["failing"]) == (503, ["workers"])
        assert r.json()["checks"]["workers"]["error"].startswith(
            f"no worker has loaded its scorers: worker {beat['name']} (pid {bad.pid} on "
            f"{socket.gethostname()}): {reason}"
        )

        # Comments are accepted meanwhile and wait: the broken worker takes no job.
        assert c.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201
        ids = [f"wait-{i}" for i in range(3)]
        for i, cid in enumerate(ids):
            post(c, cid, f"Point {i}: Islamabad wants Russian helicopters as a hedge.")
        conn = redis_server.client()
        queue = stack.env["MODERATION_QUEUE"]
        assert Worker.all(connection=conn) == []  # it never registered with RQ to dequeue
        assert conn.llen(f"rq:queue:{queue}") == 3
        assert [c.get(f"/v1/comments/{cid}").json()["status"] for cid in ids] == ["pending"] * 3

        # A good worker: ready, the comments decided; the broken one is still a warning.
        good = stack.start_worker()
        ready = stack.wait_ready()
        assert ready["checks"]["workers"]["ready"] == 1
        assert [
            w.startswith(f"workers: worker {beat['name']} (pid {bad.pid} on ")
            for w in ready["warnings"]
        ] == [True]
        results = [wait_decision(c, cid) for cid in ids]
    assert all(r["decision"] is not None for r in results), stack.dump()
    assert bad.poll() is None and good.poll() is None, "both stay up"
    assert_decided_once(database_url, ids)
    log = next(p for p in stack.logs if p.name.startswith("worker")).read_text()
    assert f"worker {beat['name']} takes no jobs: {reason}" in log
    assert "Traceback" not in log


def test_a_stopped_worker_withdraws_its_heartbeat(database_url, redis_server, stack_factory):
    stack = stack_factory(database_url, redis_server.url)
    stack.start_api()
    worker = stack.start_worker()
    ready = stack.wait_ready()
    [beat] = ready["checks"]["workers"]["workers"]
    assert (beat["state"], beat["pid"]) == ("ready", worker.pid)
    assert beat["scorers"] == ["toxicity", "relevance", "spam"]
    assert len(beat["rules_version"]) == 64 and beat["started_at"] and beat["beat_at"]
    worker.terminate()  # SIGTERM: RQ's warm shutdown
    assert worker.wait(30) == 0
    # Gone at once, not after the heartbeat's TTL.
    r = httpx.get(f"{stack.url}/readyz", timeout=5)
    assert (r.status_code, r.json()["checks"]["workers"]["workers"]) == (503, []), r.text
