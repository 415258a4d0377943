"""RQ's work loop kept alive through Redis outages (``workers.process``), on a real Redis.

The faults are raised where a real outage raises them (RQ's own calls to Redis); the jobs,
queues and registries are real."""

from __future__ import annotations

import logging
import operator

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.suspension import resume, suspend

from workers.process import SteadyWorker, work_until_stopped

pytestmark = pytest.mark.slow


def gone() -> redis.exceptions.ConnectionError:
    return redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6399.")


def test_redis_gone_while_the_worker_records_its_state_does_not_end_the_loop(
    redis_conn, monkeypatch
):
    # The CI flake: Redis died just as RQ set the worker IDLE before its (reconnecting)
    # dequeue; the ConnectionError reached RQ's catch-all and the worker took no more jobs.
    queue = Queue("steady-test", connection=redis_conn)
    job = queue.enqueue(operator.add, 2, 3)
    worker = SteadyWorker([queue], connection=redis_conn)
    real_hset = redis_conn.hset
    faults = []

    def hset(name, key=None, value=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        if key == "state" and value == "idle" and not faults:
            faults.append(value)
            raise gone()
        return real_hset(name, key, value, *args, **kwargs)

    monkeypatch.setattr(redis_conn, "hset", hset)
    assert worker.work(burst=True) is True
    assert faults == ["idle"]
    assert Job.fetch(job.id, connection=redis_conn).get_status() == JobStatus.FINISHED


class LosesRedisOnce(SteadyWorker):
    faults = 0

    def check_for_suspension(self, burst: bool) -> None:
        if LosesRedisOnce.faults:
            LosesRedisOnce.faults -= 1
            raise gone()
        super().check_for_suspension(burst)


def test_a_loop_that_ends_on_an_error_is_started_again(redis_conn, caplog):
    queue = Queue("steady-test", connection=redis_conn)
    job = queue.enqueue(operator.add, 2, 3)
    LosesRedisOnce.faults = 1
    made: list[SteadyWorker] = []

    def make() -> SteadyWorker:
        made.append(LosesRedisOnce([queue], connection=redis_conn, name="w1"))
        return made[-1]

    with caplog.at_level(logging.ERROR, logger="workers.process"):
        assert work_until_stopped(make, burst=True) is True
    assert len(made) == 2  # the same name both times: RQ's birth check let it in again
    assert [m.name for m in made] == ["w1", "w1"]
    assert "w1: its work loop ended on an error; starting it again in 1 s" in caplog.text
    assert Job.fetch(job.id, connection=redis_conn).get_status() == JobStatus.FINISHED


def test_a_loop_stopped_on_request_is_not_started_again(redis_conn):
    queue = Queue("steady-test", connection=redis_conn)
    job = queue.enqueue(operator.add, 2, 3)
    made: list[SteadyWorker] = []

    def make() -> SteadyWorker:
        made.append(SteadyWorker([queue], connection=redis_conn))
        made[-1]._stop_requested = True  # as RQ's SIGTERM handler leaves it mid-job
        return made[-1]

    assert work_until_stopped(make) is False  # not burst: it would otherwise wait for jobs
    assert len(made) == 1
    assert Job.fetch(job.id, connection=redis_conn).get_status() == JobStatus.QUEUED


def test_a_burst_worker_while_rq_is_suspended_ends_without_starting_again(redis_conn):
    queue = Queue("steady-test", connection=redis_conn)
    job = queue.enqueue(operator.add, 2, 3)
    made: list[SteadyWorker] = []

    def make() -> SteadyWorker:
        made.append(SteadyWorker([queue], connection=redis_conn))
        return made[-1]

    suspend(redis_conn)
    try:
        assert work_until_stopped(make, burst=True) is False
    finally:
        resume(redis_conn)
    assert len(made) == 1  # `rq suspend` ends a burst loop on purpose: no restart
    assert Job.fetch(job.id, connection=redis_conn).get_status() == JobStatus.QUEUED
