"""The worker process: builds the runtime (models, rules) once, then runs RQ jobs in-process.

RQ's default ``Worker`` forks a child per job, which would load the models again for every
job; ``SimpleWorker`` runs jobs in this process, so scorers are loaded once and kept. A
maintenance thread sweeps pending comments that have no live job and watches the rules file.

Queues are taken in order: the live scoring lane, the bulk lane, then the explain queue
(evidence spans, computed after the decision). Webhooks have a worker process of their own
(``workers/webhook_worker.py``), so a slow publisher never delays a decision. When the
worker takes a scoring job it also takes the jobs queued behind it in the same lane, right
now and without waiting, up to ``scoring_batch_size`` comments, and scores them in one pass;
then each job runs as RQ runs it (finding its comments decided, it only returns), so every
job ends finished or failed in RQ's registries as usual.

Readiness: the worker publishes its heartbeat (``moderation.heartbeats``) only once its
scorers and rules are loaded, before it takes its first job, and a ``Pulse`` thread keeps
it fresh; ``/readyz`` counts the live ones. A worker whose scorers or rules fail to load
takes no jobs: it publishes a heartbeat that carries the error, stays up and tries again
every ``worker_load_retry_seconds`` (it does not exit, so a supervisor does not restart it
in a loop that loads the models again and again).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job
from rq.timeouts import JobTimeoutException
from rq.worker import WorkerStatus

from moderation import erasure, heap, heartbeats, logs, metrics
from moderation.connections import connect, resolve_redis_url
from moderation.db.models import DEFAULT_SITE
from moderation.heartbeats import Heartbeat, WorkerState
from moderation.queue import SCORE_JOB, scoring_queues, sweep_pending
from moderation.reconsideration import sweep_reports
from moderation.settings import Settings, get_settings
from moderation.webhooks import sweep_deliveries
from workers import process
from workers.jobs import process_comments
from workers.runtime import LoadError, Runtime, RuntimeLoader, get_runtime, set_runtime

log = logging.getLogger(__name__)

SCORING_PASSES_KEY = "moderation:stats:scoring-passes"
"""Hash of ``passes`` (scoring passes the workers ran), ``jobs`` (scoring jobs those passes
covered) and ``comments``: ``jobs`` over ``passes`` is how many jobs a pass merged."""


def job_site(job: Job) -> str:
    """The site of a scoring job's comments (jobs queued before sites carry none)."""
    return str(job.args[1]) if len(job.args) > 1 else DEFAULT_SITE


class ModerationWorker(process.SteadyWorker):
    """Runs jobs in the worker process itself so that models stay loaded between jobs, and
    scores the scoring jobs queued together in one pass."""

    def __init__(
        self, queues: Sequence[Queue], *, settings: Settings | None = None, **kwargs: Any
    ) -> None:
        super().__init__(queues, **kwargs)
        self.settings = settings or get_settings()
        self.scoring_queue_names = {q.name for q in scoring_queues(self.connection, self.settings)}

    def execute_job(self, job: Job, queue: Queue) -> None:
        if job.func_name != SCORE_JOB or queue.name not in self.scoring_queue_names:
            super().execute_job(job, queue)
            return
        # Each job is marked started (an execution in the lane's StartedJobRegistry) as soon
        # as it is taken, so if this process dies the registry cleanup fails or retries it
        # and the sweeper finds its comments again.
        taken = [(job, self._start(job))]
        room = self.settings.scoring_batch_size - len(job.args[0])
        while room > 0:
            extra = self._take_next(queue, room, job_site(job))
            if extra is None:
                break
            taken.append((extra, self._start(extra)))
            room -= len(extra.args[0])
        if len(taken) > 1:
            self._score_together([j for j, _ in taken])
        self._count_pass(taken)
        for each, execution in taken:
            self.perform_job(each, queue, execution)
        self.set_state(WorkerStatus.IDLE)
        self._flush_metrics()

    def _flush_metrics(self) -> None:
        """The pass's counts out now, not at the next second's flush."""
        try:
            metrics.flush(self.connection, self.settings.queue)
        except redis.RedisError as exc:
            log.warning("metrics not flushed (kept for the next try): %s", exc)

    def _install_signal_handlers(self) -> None:
        super()._install_signal_handlers()  # type: ignore[no-untyped-call]
        if _stop_signalled:  # asked to stop while starting: leave before the first job
            self._stop_requested = True

    def _start(self, job: Job) -> Execution:
        execution = self.prepare_execution(job)
        self.prepare_job_execution(job)
        return execution

    def _take_next(self, queue: Queue, room: int, site: str) -> Job | None:
        """The next scoring job of ``queue`` if one is queued now, is ``site``'s (a pass
        decides one site's comments) and fits in ``room``."""
        while True:
            raw = self.connection.lpop(queue.key)  # Queue.pop_job_id fails on an empty queue
            if raw is None:
                return None
            job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            try:
                job = Job.fetch(job_id, connection=self.connection)
            except NoSuchJobError:
                continue  # deleted while queued, as RQ's own dequeue skips it
            if job.func_name == SCORE_JOB and len(job.args[0]) <= room and job_site(job) == site:
                return job
            queue.push_job_id(job_id, at_front=True)  # back where it was, for the next pass
            return None

    def _score_together(self, jobs: list[Job]) -> None:
        ids = list(dict.fromkeys(cid for job in jobs for cid in job.args[0]))
        timeout = max(job.timeout or self.settings.job_timeout for job in jobs)
        try:
            with self.death_penalty_class(timeout, JobTimeoutException, job_id=jobs[0].id):
                process_comments(get_runtime(), ids, job_site(jobs[0]))
        except Exception:  # noqa: BLE001 - each job then runs, fails and retries on its own
            log.exception("scoring %d jobs together failed; running them one by one", len(jobs))

    def _count_pass(self, taken: list[tuple[Job, Execution]]) -> None:
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.hincrby(SCORING_PASSES_KEY, "passes", 1)
            pipe.hincrby(SCORING_PASSES_KEY, "jobs", len(taken))
            pipe.hincrby(SCORING_PASSES_KEY, "comments", sum(len(j.args[0]) for j, _ in taken))
            pipe.execute()


class Maintenance(threading.Thread):
    def __init__(self, runtime: Runtime):
        super().__init__(name="moderation-maintenance", daemon=True)
        self.runtime = runtime
        self.stopping = threading.Event()

    def run(self) -> None:
        rt = self.runtime
        # A connection of its own, so the worker's blocking dequeue never delays a sweep.
        conn = connect(resolve_redis_url(rt.settings.redis_url, rt.settings.var_dir))
        while not self.stopping.wait(rt.settings.sweep_interval_seconds):
            try:
                rt.rulebook.current()
            except Exception:  # noqa: BLE001 - keep the thread alive whatever the file holds
                log.exception("rules check failed")
            try:
                sweep_pending(session_factory=rt.session_factory, conn=conn, settings=rt.settings)
                sweep_deliveries(
                    session_factory=rt.session_factory, conn=conn, settings=rt.settings
                )
                sweep_reports(session_factory=rt.session_factory, conn=conn, settings=rt.settings)
                erasure.purge_if_due(rt.session_factory, conn)
            except Exception as exc:  # noqa: BLE001 - Redis or the database may be down for a while
                log.warning("sweep failed (will retry): %s", exc)

    def stop(self) -> None:
        self.stopping.set()


class Pulse(threading.Thread):
    """Publishes this worker's heartbeat every third of its TTL; nothing until ``show``."""

    def __init__(self, settings: Settings, conn: Any):
        super().__init__(name="moderation-heartbeat", daemon=True)
        self.settings = settings
        self.conn = conn
        self.ttl = settings.worker_heartbeat_ttl_seconds
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._beat: Heartbeat | None = None
        self._refresh: Callable[[Heartbeat], None] | None = None

    def show(self, beat: Heartbeat, refresh: Callable[[Heartbeat], None] | None = None) -> bool:
        """Publish ``beat`` now, and from now on every beat (``refresh`` updates it first);
        False when Redis could not be reached (the next beat tries again)."""
        with self._lock:
            self._beat, self._refresh = beat, refresh
        return self.publish()

    def publish(self) -> bool:
        with self._lock:
            beat, refresh = self._beat, self._refresh
            if beat is None:
                return True
            try:
                if refresh is not None:
                    refresh(beat)
                heartbeats.publish(
                    self.conn, queue=self.settings.queue, beat=beat, ttl_seconds=self.ttl
                )
                return True
            except Exception as exc:  # noqa: BLE001 - Redis may be down for a while
                log.warning("heartbeat not published (will retry): %s", exc)
                return False

    def run(self) -> None:
        while not self.stopping.wait(self.ttl / 3):
            self.publish()

    def stop(self, name: str) -> None:
        """Stop beating and withdraw the heartbeat, so no one counts this worker any more."""
        self.stopping.set()
        with self._lock:
            self._beat = None
        try:
            heartbeats.withdraw(self.conn, queue=self.settings.queue, name=name)
        except Exception as exc:  # noqa: BLE001 - it expires on its own
            log.warning("heartbeat not withdrawn (it expires in %.0f s): %s", self.ttl, exc)


def served_queues(conn: Any, settings: Settings) -> list[Queue]:
    """What a scoring worker takes jobs from, in order."""
    live, bulk = scoring_queues(conn, settings)
    # Lowest last: evidence spans are computed after the decisions, when nothing else waits.
    explain = Queue(settings.explain_queue, connection=conn)
    return [live, bulk, explain]  # webhooks: workers/webhook_worker.py


_stop_signalled = False
"""A SIGTERM came before RQ's own handlers were installed."""


def _stop_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    """While loading: stop at once (RQ's handlers take over in ``work()``). The flag keeps
    the request when the SystemExit is swallowed: a signal during RQ's fork of its
    scheduler lands in an at-fork hook, where Python only prints "Exception ignored"."""
    global _stop_signalled
    _stop_signalled = True
    raise SystemExit(0)


def load_runtime(
    settings: Settings, conn: Any, pulse: Pulse, beat: Heartbeat, *, burst: bool = False
) -> Runtime:
    """Build the runtime, trying again every ``worker_load_retry_seconds`` while it fails;
    each failure is logged and published in the heartbeat (state ``failed``, the error).
    With ``burst`` the first failure is raised instead."""
    loader = RuntimeLoader(settings, conn)
    while True:
        try:
            return loader.build()
        except LoadError as exc:
            if burst:
                raise
            what = {
                "scorers": f"scorers {','.join(settings.scorer_names)}",
                "rules": f"rules file {settings.rules}",
            }.get(exc.step, "database (storing the rules version)")
            beat.state = WorkerState.FAILED
            beat.error = f"loading its {what} failed: {exc}"
            log.error(
                "worker %s takes no jobs: %s (attempt %d; trying again in %.0f s)",
                beat.name, beat.error, beat.attempts, settings.worker_load_retry_seconds,
            )  # fmt: skip
            pulse.show(beat)
        if pulse.stopping.wait(settings.worker_load_retry_seconds):
            raise SystemExit(0)
        beat.attempts += 1


def run_worker(
    settings: Settings | None = None, *, burst: bool = False, name: str | None = None
) -> bool:
    settings = settings or get_settings()
    logs.configure(
        log_format=settings.log_format,
        log_text=settings.log_text,
        process=f"worker[{os.getpid()}]",
    )
    name = name or uuid.uuid4().hex
    url = resolve_redis_url(settings.redis_url, settings.var_dir)
    conn = connect(url)
    # A connection of its own, so a blocking dequeue never delays a heartbeat.
    pulse = Pulse(settings, connect(url))
    beat = Heartbeat(
        name=name,
        pid=os.getpid(),
        host=socket.gethostname(),
        queues=[q.name for q in served_queues(conn, settings)],
        state=WorkerState.FAILED,
        started_at=heartbeats.now_iso(),
    )
    # Until RQ's work() installs its own handlers (a warm shutdown), SIGTERM stops it at once.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    pulse.start()
    flusher = metrics.Flusher(connect(url), settings.queue)
    flusher.start()
    maintenance: Maintenance | None = None
    try:
        runtime = load_runtime(settings, conn, pulse, beat, burst=burst)
        set_runtime(runtime)
        heap.freeze_loaded()  # the models stay for the process's life: out of full collections

        def make_worker() -> ModerationWorker:
            return ModerationWorker(
                served_queues(runtime.redis, settings),
                connection=runtime.redis,
                name=name,
                settings=settings,
            )

        beat.state, beat.error = WorkerState.READY, None
        beat.scorers = [scorer.name for scorer in runtime.scorers.scorers]
        beat.labels = list(runtime.scorers.labels)

        def refresh(b: Heartbeat) -> None:
            b.rules_version = runtime.rulebook.active_version
            b.rules_refused = list(runtime.rulebook.last_errors)

        # Ready only now, before the first job is taken.
        pulse.show(beat, refresh)
        log.info("worker %s ready: scorers %s, rules %s", name, beat.scorers,
                 (beat.rules_version or "")[:12])  # fmt: skip
        maintenance = Maintenance(runtime)
        maintenance.start()
        return process.work_until_stopped(make_worker, burst=burst)
    except (SystemExit, KeyboardInterrupt) as exc:  # a signal while it was starting
        if isinstance(exc, SystemExit) and exc.code not in (0, None):
            raise
        log.info("worker %s stopped", name)
        return False
    finally:
        if maintenance is not None:
            maintenance.stop()
        flusher.stop()
        pulse.stop(name)
