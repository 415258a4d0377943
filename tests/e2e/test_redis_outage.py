"""Nothing is lost between the database and the queue: comments that arrive while Redis
is down, or whose jobs vanish with a Redis restart, still get a decision."""

from __future__ import annotations

import time

import httpx
import pytest

from moderation.defaults import DEFAULT_WORKER_HEARTBEAT_TTL_SECONDS
from tests.conftest import auth
from tests.e2e.test_pipeline import ARTICLE, wait_decision
from tests.e2e.test_worker_faults import assert_decided_once, wait_worker_ready

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


KILL_BOUND_SCORING_SECONDS = 60.0
"""The README's kill -9 bound is the heartbeat TTL plus two sweep intervals, plus the time to
score what the dead worker held; this is that last term on a loaded 2-core CI machine (one
pass of 32 comments takes a few seconds). Together far below RQ's job timeout (300 s)."""


def test_comments_of_a_worker_killed_mid_job_are_decided_by_another_within_the_bound(
    database_url, redis_server, stack_factory
):
    # RQ's default job timeout (300 s): the bound must not come from it.
    stack = stack_factory(database_url, redis_server.url)
    ttl, sweep = (
        DEFAULT_WORKER_HEARTBEAT_TTL_SECONDS,
        float(stack.env["MODERATION_SWEEP_INTERVAL_SECONDS"]),
    )
    stack.start_api()
    conn = redis_server.client()
    wip = f"rq:wip:{stack.env['MODERATION_QUEUE']}"
    ids = [f"k{i}" for i in range(64)]  # two jobs of 32: one running at the kill, one queued
    with httpx.Client(base_url=stack.url, headers=PUB, timeout=60) as c:
        assert c.put("/v1/articles/pk-ru", json=ARTICLE).status_code == 201
        victim = stack.start_worker()
        stack.wait_ready()
        items = [
            {"id": cid, "article_id": "pk-ru", "author": {"id": f"u{cid}"},
             "text": f"Comment number {cid} about Pakistan, Russia and the helicopters."}
            for cid in ids
        ]  # fmt: skip
        assert c.post("/v1/comments/batch", json={"comments": items}).json()["accepted"] == 64
        deadline = time.monotonic() + 60
        while not conn.zcard(wip):  # kill it as soon as it has started a job
            assert time.monotonic() < deadline, "no job started\n" + stack.dump()
            time.sleep(0.02)
        victim.kill()  # SIGKILL: no clean-up of any kind
        killed_at = time.monotonic()
        victim.wait()
        [(member, _)] = conn.zrange(wip, 0, -1, withscores=True)
        held = json_args(conn, member.decode().split(":")[0])
        pending = [cid for cid in held if c.get(f"/v1/comments/{cid}").json()["decision"] is None]
        assert pending, "the worker finished its job before it was killed; nothing tested"

        successor = stack.start_worker()
        wait_worker_ready(stack, successor.pid)
        ready_at = time.monotonic() - killed_at
        # The README's bound, from the kill or from the new worker being ready if later.
        bound = max(ttl, ready_at) + 2 * sweep + KILL_BOUND_SCORING_SECONDS
        results = [wait_decision(c, cid, timeout=bound - (time.monotonic() - killed_at))
                   for cid in ids]  # fmt: skip
        decided_after = time.monotonic() - killed_at
    assert all(r["decision"] is not None for r in results), (bound, stack.dump())
    print(f"kill -9: new worker ready {ready_at:.1f} s, all decided {decided_after:.1f} s "
          f"after the kill (bound {bound:.0f} s)")  # fmt: skip
    assert_decided_once(database_url, ids)
    log = "\n".join(p.read_text(errors="replace") for p in stack.logs if "worker" in p.name)
    assert f"has no heartbeat: its job {member.decode().split(':')[0]}" in log


def json_args(conn, job_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The comment ids a scoring job carries."""
    from rq.job import Job

    return list(Job.fetch(job_id, connection=conn).args[0])


@pytest.mark.both_databases  # a SQLite file handle and a PostgreSQL socket are inherited apart
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
