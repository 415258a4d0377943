"""The sweeper: pending comments with no live job are enqueued again; live ones are not."""

from __future__ import annotations

from datetime import timedelta

from rq import Queue
from rq.job import Job

from moderation.articles import upsert_article
from moderation.comments import NewComment, create_comment
from moderation.db import Comment, utcnow
from moderation.queue import SWEEP_LOCK, enqueue_scoring, sweep_pending, without_live_job


def add(session_factory, cid):
    with session_factory() as s:
        upsert_article(session=s, article_id="a1", title="t", body="b")
        create_comment(session=s, new=NewComment(id=cid, article_id="a1", text="x", author_id="u"))
        s.commit()


def age(session_factory, seconds=60):
    with session_factory() as s:
        for c in s.query(Comment):
            c.received_at = utcnow() - timedelta(seconds=seconds)
        s.commit()


def test_sweeps_unqueued_and_lost_jobs_but_not_live_ones(settings, session_factory, redis_conn):
    for cid in ("never-queued", "lost", "live", "failed", "fresh"):
        add(session_factory, cid)
    with session_factory() as s:
        enqueue_scoring(session=s, conn=redis_conn, settings=settings, comment_ids=["lost"])
        enqueue_scoring(session=s, conn=redis_conn, settings=settings, comment_ids=["live"])
        enqueue_scoring(session=s, conn=redis_conn, settings=settings, comment_ids=["failed"])
        lost_job = s.get(Comment, ("default", "lost")).job_id
        failed_job = s.get(Comment, ("default", "failed")).job_id
    redis_conn.delete(Job.key_for(lost_job))  # e.g. Redis restarted empty
    redis_conn.hset(Job.key_for(failed_job), "status", "failed")
    age(session_factory)
    with session_factory() as s:
        s.get(Comment, ("default", "fresh")).received_at = utcnow()
        s.commit()

    n = sweep_pending(session_factory=session_factory, conn=redis_conn, settings=settings)
    assert n == 3
    queue = Queue(settings.queue, connection=redis_conn)
    jobs_by_comment = {}
    for job in queue.get_jobs():
        for cid in job.args[0]:
            jobs_by_comment.setdefault(cid, []).append(job.id)
    assert len(jobs_by_comment["live"]) == 1  # not enqueued twice
    for cid in ("never-queued", "lost", "failed"):  # each now has a new, live job
        assert any(j not in (lost_job, failed_job) for j in jobs_by_comment[cid]), cid
    assert "fresh" not in jobs_by_comment  # too young: the API may still be enqueueing it


def test_one_sweeper_at_a_time(settings, session_factory, redis_conn):
    add(session_factory, "c1")
    age(session_factory)
    redis_conn.set(SWEEP_LOCK, b"1")
    assert sweep_pending(session_factory=session_factory, conn=redis_conn, settings=settings) == 0
    redis_conn.delete(SWEEP_LOCK)
    assert sweep_pending(session_factory=session_factory, conn=redis_conn, settings=settings) == 1


def test_decided_comments_are_not_swept(settings, session_factory, redis_conn):
    add(session_factory, "c1")
    age(session_factory)
    with session_factory() as s:
        s.get(Comment, ("default", "c1")).status = "approved"
        s.commit()
    assert sweep_pending(session_factory=session_factory, conn=redis_conn, settings=settings) == 0


def test_sweeps_lost_jobs_of_the_bulk_lane_too(settings, session_factory, redis_conn):
    for cid in ("bulk-lost", "bulk-live"):
        add(session_factory, cid)
    with session_factory() as s:
        for cid in ("bulk-lost", "bulk-live"):
            enqueue_scoring(
                session=s, conn=redis_conn, settings=settings, comment_ids=[cid], bulk=True
            )
        lost_job = s.get(Comment, ("default", "bulk-lost")).job_id
    bulk = Queue(settings.effective_bulk_queue, connection=redis_conn)
    assert len(bulk.get_job_ids()) == 2 and Queue(settings.queue, connection=redis_conn).is_empty()
    redis_conn.delete(Job.key_for(lost_job))
    age(session_factory)
    assert sweep_pending(session_factory=session_factory, conn=redis_conn, settings=settings) == 1
    with session_factory() as s:
        assert s.get(Comment, ("default", "bulk-lost")).job_id != lost_job


def test_a_dead_workers_started_jobs_are_queued_again_in_both_lanes(
    settings, session_factory, redis_conn
):
    from rq.executions import Execution

    for cid in ("live-c", "bulk-c"):
        add(session_factory, cid)
    with session_factory() as s:
        enqueue_scoring(session=s, conn=redis_conn, settings=settings, comment_ids=["live-c"])
        enqueue_scoring(
            session=s, conn=redis_conn, settings=settings, comment_ids=["bulk-c"], bulk=True
        )
        old_jobs = {cid: s.get(Comment, ("default", cid)).job_id for cid in ("live-c", "bulk-c")}
    for name in (settings.queue, settings.effective_bulk_queue):
        queue = Queue(name, connection=redis_conn)
        job = queue.fetch_job(queue.pop_job_id())
        # As a worker that started the job and then died: it has no heartbeat, and its
        # execution would live on for RQ's job timeout.
        with redis_conn.pipeline() as pipe:
            Execution.create(job, ttl=360, pipeline=pipe)
            job.prepare_for_execution("dead-worker", pipeline=pipe)
            pipe.execute()
    age(session_factory)
    sweep_pending(session_factory=session_factory, conn=redis_conn, settings=settings)
    # The started registry of each lane was cleaned: the abandoned job is queued again, as it
    # was, in its own lane (no retry spent), so each comment has a live job once more.
    for cid, name in (("live-c", settings.queue), ("bulk-c", settings.effective_bulk_queue)):
        job = Job.fetch(old_jobs[cid], connection=redis_conn)
        assert (job.get_status(), job.retries_left) == ("queued", 2), cid
        queue = Queue(name, connection=redis_conn)
        assert queue.get_job_ids() == [job.id], cid
        assert job.id not in queue.started_job_registry.get_job_ids(), cid
    with session_factory() as s:
        rows = [(cid, s.get(Comment, ("default", cid)).job_id) for cid in old_jobs]
    assert without_live_job(redis_conn, rows) == []


def test_retries_overdue_with_no_scheduler_are_moved_to_their_queue(
    settings, session_factory, redis_conn
):
    from rq.utils import current_timestamp

    from moderation.queue import OVERDUE_AFTER_SECONDS

    for cid in ("overdue-c", "due-now-c"):
        add(session_factory, cid)
    with session_factory() as s:
        for cid in ("overdue-c", "due-now-c"):
            enqueue_scoring(session=s, conn=redis_conn, settings=settings, comment_ids=[cid])
        jobs = {cid: s.get(Comment, ("default", cid)).job_id for cid in ("overdue-c", "due-now-c")}
    queue = Queue(settings.queue, connection=redis_conn)
    redis_conn.delete(queue.key)  # as if both had failed once and been scheduled for a retry
    registry = queue.scheduled_job_registry
    for cid, late in (("overdue-c", OVERDUE_AFTER_SECONDS + 5), ("due-now-c", 1)):
        job = Job.fetch(jobs[cid], connection=redis_conn)
        job.set_status("scheduled")
        redis_conn.zadd(registry.key, {job.id: current_timestamp() - late})

    # Only the fresh retry is due: a live scheduler moves it within a second, so leave it.
    redis_conn.zrem(registry.key, jobs["overdue-c"])
    sweep_pending(session_factory=session_factory, conn=redis_conn, settings=settings)
    assert queue.get_job_ids() == []
    assert registry.get_job_ids() == [jobs["due-now-c"]]

    # Once one is overdue, nothing is moving them: every due retry goes back to the queue.
    redis_conn.zadd(registry.key, {jobs["overdue-c"]: current_timestamp() - 60})
    redis_conn.delete(SWEEP_LOCK)  # the next sweep
    sweep_pending(session_factory=session_factory, conn=redis_conn, settings=settings)
    assert sorted(queue.get_job_ids()) == sorted(jobs.values())
    assert registry.get_job_ids() == []
