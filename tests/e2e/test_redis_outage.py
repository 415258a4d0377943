"""Nothing is lost between the database and the queue: comments that arrive while Redis
is down, or whose jobs vanish with a Redis restart, still get a decision."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import auth
from tests.e2e.test_pipeline import ARTICLE, wait_decision

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PUB = auth("publisher")


def post(c: httpx.Client, cid: str, text: str) -> None:
    r = c.post(
        "/v1/comments", json={"id": cid, "article_id": "pk-ru", "text": text, "author": {"id": cid}}
    )
    assert r.status_code == 202, r.text


def test_comments_sent_while_redis_is_down_are_decided_after_it_returns(
    database_url, redis_server, stack_factory
):
    stack = stack_factory(database_url, redis_server.url)
    stack.start_api()
    worker = stack.start_worker()
    with httpx.Client(base_url=stack.url, headers=PUB, timeout=40) as c:
        assert c.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201
        post(c, "before", "Pakistan buying Russian helicopters is a hedge against India.")
        assert wait_decision(c, "before")["decision"] is not None, stack.dump()

        redis_server.kill()
        for i in range(5):
            post(
                c,
                f"during-{i}",
                f"Point {i}: Islamabad wants Russian arms because Washington chose India.",
            )
        assert c.get("/readyz").json()["failing"] == ["redis"]
        for i in range(5):
            assert c.get(f"/v1/comments/during-{i}").json()["status"] == "pending"

        redis_server.start()  # same port, empty: none of those comments was ever queued
        results = [wait_decision(c, f"during-{i}") for i in range(5)]
    assert worker.poll() is None, "the worker must ride out a Redis outage"
    assert all(r["decision"] is not None for r in results), stack.dump()


def test_jobs_lost_with_redis_are_swept_back(database_url, redis_server, stack_factory):
    stack = stack_factory(database_url, redis_server.url)
    stack.start_api()
    with httpx.Client(base_url=stack.url, headers=PUB, timeout=40) as c:
        assert c.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201
        for i in range(3):
            post(c, f"queued-{i}", f"Comment {i} on the helicopter deal with Moscow.")
        # Queued, then Redis restarts without persistence: the jobs are gone.
        redis_server.kill()
        redis_server.start()
        assert redis_server.client().keys("rq:job:*") == []
        stack.start_worker()
        results = [wait_decision(c, f"queued-{i}") for i in range(3)]
    assert all(r["decision"] is not None for r in results), stack.dump()


def test_comments_of_a_worker_killed_mid_job_are_decided_by_another(
    database_url, redis_server, stack_factory
):
    # A short job timeout: RQ gives up on a dead worker's job after it, and the sweeper
    # re-queues the comments that are still pending.
    stack = stack_factory(database_url, redis_server.url, MODERATION_JOB_TIMEOUT="15")
    stack.start_api()
    with httpx.Client(base_url=stack.url, headers=PUB, timeout=60) as c:
        assert c.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201
        items = [
            {"id": f"k{i}", "article_id": "pk-ru", "author": {"id": f"u{i}"},
             "text": f"Comment number {i} about Pakistan, Russia and the helicopters."}
            for i in range(256)
        ]  # fmt: skip
        assert c.post("/v1/comments/batch", json={"comments": items}).json()["accepted"] == 256
        victim = stack.start_worker()
        import time

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # kill it once it is busy with the batch
            if c.get("/v1/comments/k0").json()["decision"] is not None:
                break
            time.sleep(0.2)
        victim.kill()
        victim.wait()
        undecided = [
            i for i in range(256) if c.get(f"/v1/comments/k{i}").json()["decision"] is None
        ]
        assert undecided, "the worker finished everything before it was killed; nothing tested"
        stack.start_worker()
        results = [wait_decision(c, f"k{i}", timeout=120) for i in undecided]
    assert all(r["decision"] is not None for r in results), stack.dump()


def test_a_killed_worker_leaves_no_child_holding_its_database_sockets(
    database_url, redis_server, stack_factory
):
    # RQ forks its scheduler from the worker, and a fork inherits the worker's database
    # sockets: a child that outlived a kill -9 kept a dead worker's row locks alive.
    import time

    import psutil

    stack = stack_factory(database_url, redis_server.url)
    worker = stack.start_worker()
    parent = psutil.Process(worker.pid)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not parent.children():
        assert worker.poll() is None, stack.dump()
        time.sleep(0.2)
    children = parent.children(recursive=True)
    assert children, "the worker forked no scheduler; nothing tested\n" + stack.dump()
    worker.kill()
    worker.wait()
    _gone, alive = psutil.wait_procs(children, timeout=10)
    for orphan in alive:
        orphan.kill()
    assert alive == [], f"children outlived their worker: {alive}"
