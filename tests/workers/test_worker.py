"""The worker process's loop in-process (burst mode): lanes in order, queued scoring jobs
merged into one pass, every job finished in RQ's registries, and what a crash leaves."""

from __future__ import annotations

import pytest
from rq.job import Job
from rq.registry import FinishedJobRegistry

from moderation import heartbeats
from moderation.articles import upsert_article
from moderation.comments import NewComment, create_comment
from moderation.db import Comment, Decision
from moderation.heartbeats import HEARTBEAT_KEY, Heartbeat, WorkerState
from moderation.queue import (
    enqueue_scoring,
    scoring_queues,
    sweep_pending,
    without_live_job,
)
from moderation.webhooks import webhook_queue
from workers import worker as worker_module
from workers.runtime import Runtime, set_runtime
from workers.worker import SCORING_PASSES_KEY, ModerationWorker

pytestmark = pytest.mark.slow


@pytest.fixture
def runtime(settings, redis_conn):
    rt = Runtime.build(settings, redis_conn=redis_conn)
    set_runtime(rt)
    yield rt
    set_runtime(None)
    rt.engine.dispose()


def post(rt: Runtime, ids: list[str], *, bulk: bool | None = None) -> list[str]:
    """Store comments and enqueue them as the API does: one job per call."""
    with rt.session_factory() as s:
        upsert_article(session=s, article_id="a1", title="Bus lanes", body="Main Street.")
        for cid in ids:
            create_comment(
                session=s,
                new=NewComment(id=cid, article_id="a1", text=f"Bus lanes {cid}.", author_id="u"),
            )
        s.commit()
        return enqueue_scoring(
            session=s, conn=rt.redis, settings=rt.settings, comment_ids=ids, bulk=bulk
        )


def work(rt: Runtime, name: str | None = None) -> None:
    live, bulk = scoring_queues(rt.redis, rt.settings)
    queues = [live, webhook_queue(rt.redis, rt.settings), bulk]
    ModerationWorker(queues, connection=rt.redis, settings=rt.settings, name=name).work(burst=True)


def passes(rt: Runtime) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in rt.redis.hgetall(SCORING_PASSES_KEY).items()}


def statuses(rt: Runtime) -> dict[str, str]:
    with rt.session_factory() as s:
        return {c.id: c.status for c in s.query(Comment)}


def test_single_posts_queued_together_are_scored_in_one_pass(runtime):
    jobs = [job for i in range(8) for job in post(runtime, [f"c{i}"])]
    assert len(jobs) == 8
    work(runtime)
    assert set(statuses(runtime).values()) == {"approved"}
    assert passes(runtime) == {"passes": 1, "jobs": 8, "comments": 8}
    live = scoring_queues(runtime.redis, runtime.settings)[0]
    finished = FinishedJobRegistry(queue=live).get_job_ids()
    for job_id in jobs:  # each job ran as RQ runs it and ended finished, none left started
        assert Job.fetch(job_id, connection=runtime.redis).get_status() == "finished"
        assert job_id in finished
    assert live.started_job_registry.get_job_ids() == []
    # A quiet period: the next comment is scored on its own, at once.
    post(runtime, ["alone"])
    work(runtime)
    assert statuses(runtime)["alone"] == "approved"
    assert passes(runtime) == {"passes": 2, "jobs": 9, "comments": 9}


def test_a_pass_holds_at_most_scoring_batch_size_comments(runtime):
    runtime.settings.scoring_batch_size = 4
    post(runtime, ["a"])
    post(runtime, ["b"])
    post(runtime, ["c", "d", "e"])  # does not fit beside a and b: waits for the next pass
    post(runtime, ["f"])
    work(runtime)
    assert set(statuses(runtime).values()) == {"approved"}
    assert passes(runtime) == {"passes": 2, "jobs": 4, "comments": 6}


def test_the_live_lane_goes_first_and_lanes_are_not_merged(runtime):
    post(runtime, [f"bulk{i}" for i in range(3)], bulk=True)
    post(runtime, ["live"])
    order: list[list[str]] = []
    real = worker_module.process_comments

    def recording(rt, ids):
        order.append(list(ids))
        return real(rt, ids)

    worker_module.process_comments = recording
    try:
        work(runtime)
    finally:
        worker_module.process_comments = real
    assert set(statuses(runtime).values()) == {"approved"}
    # Two passes (not merged across lanes), the live comment first.
    assert passes(runtime) == {"passes": 2, "jobs": 2, "comments": 4}
    with runtime.session_factory() as s:
        decided = {c.id: c.decided_at for c in s.query(Comment)}
    assert all(decided["live"] < decided[f"bulk{i}"] for i in range(3))


def beat(rt: Runtime, name: str) -> None:
    heartbeats.publish(
        rt.redis,
        queue=rt.settings.queue,
        beat=Heartbeat(name=name, pid=1, host="h", queues=[rt.settings.queue],
                       state=WorkerState.READY, started_at=heartbeats.now_iso()),
        ttl_seconds=60,
    )  # fmt: skip


def test_a_worker_that_dies_mid_pass_leaves_its_jobs_to_the_sweeper(runtime, monkeypatch):
    jobs = [job for i in range(3) for job in post(runtime, [f"c{i}"])]
    real = worker_module.process_comments

    def die(rt, ids, site="default"):
        raise SystemExit("killed mid-pass")  # escapes the worker, as a crash would

    monkeypatch.setattr(worker_module, "process_comments", die)
    beat(runtime, "victim")
    with pytest.raises(SystemExit):
        work(runtime, name="victim")
    live = scoring_queues(runtime.redis, runtime.settings)[0]
    assert live.is_empty()  # all three were taken...
    for job_id in jobs:  # ...and each is registered as started, not left looking queued
        assert Job.fetch(job_id, connection=runtime.redis).get_status() == "started"
        assert job_id in live.started_job_registry.get_job_ids()

    def sweep() -> int:
        return sweep_pending(session_factory=runtime.session_factory, conn=runtime.redis,
                             settings=runtime.settings)  # fmt: skip

    runtime.settings.sweep_after_seconds = 0
    runtime.settings.sweep_interval_seconds = 0.001  # the sweep lock lasts a millisecond
    # While its heartbeat lives, the sweeper leaves its jobs alone (it may still finish).
    assert sweep() == 0
    assert sorted(live.started_job_registry.get_job_ids()) == sorted(jobs)
    # Its heartbeat expires: the jobs go back to the front of the queue as they were, long
    # before RQ's job timeout; no new job is made, no retry is spent.
    runtime.redis.delete(HEARTBEAT_KEY.format(queue=runtime.settings.queue, name="victim"))
    assert sweep() == 0
    assert live.started_job_registry.get_job_ids() == []
    assert sorted(live.get_job_ids()) == sorted(jobs)
    for job_id in jobs:
        job = Job.fetch(job_id, connection=runtime.redis)
        assert (job.get_status(), job.retries_left) == ("queued", 2)
    with runtime.session_factory() as s:
        rows = [(c.id, c.job_id) for c in s.query(Comment)]
    assert {cid for cid, _ in rows} == {"c0", "c1", "c2"}
    assert without_live_job(runtime.redis, rows) == []
    # Another worker decides each of them, once.
    monkeypatch.setattr(worker_module, "process_comments", real)
    work(runtime)
    assert set(statuses(runtime).values()) == {"approved"}
    with runtime.session_factory() as s:
        decided = [d.comment_id for d in s.query(Decision)]
    assert sorted(decided) == ["c0", "c1", "c2"]


def test_a_stop_asked_for_while_starting_is_kept_until_rq_takes_over(runtime, monkeypatch):
    # A SIGTERM while RQ forks its scheduler lands in an at-fork hook, where the SystemExit
    # is swallowed; the flag it leaves stops the worker before its first job instead.
    [job_id] = post(runtime, ["c1"])
    monkeypatch.setattr(worker_module, "_stop_signalled", True)
    work(runtime)
    assert statuses(runtime) == {"c1": "pending"}
    live, _ = scoring_queues(runtime.redis, runtime.settings)
    assert live.job_ids == [job_id]  # still queued for the next worker
    monkeypatch.setattr(worker_module, "_stop_signalled", False)
    work(runtime)
    assert statuses(runtime) != {"c1": "pending"}
