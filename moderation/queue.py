"""Between the database and the workers: scoring jobs carry only comment ids (and the site
they belong to: ids are unique per site).

The API commits a comment, then enqueues (a single comment's job id is chosen before the
commit and stored with it: ``plan_scoring``, then ``push_scoring``). If Redis is down at
that moment the comment stays ``pending`` with no live job, and ``sweep_pending`` (run by
workers) enqueues it once Redis is back. It also re-enqueues comments whose job was lost
(Redis restarted empty, job failed, worker killed), so an accepted comment always reaches a
decision. A worker that died mid-job is known by its heartbeat (``moderation.heartbeats``):
once that expires, the jobs it had started go back to the front of their queue
(``reap_dead_workers``), instead of waiting for RQ to give up on them after the job timeout.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.scheduler import RQScheduler
from rq.utils import current_timestamp, parse_composite_key
from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session, sessionmaker

from moderation import heartbeats
from moderation.db.models import Comment, CommentStatus, utcnow
from moderation.db.scoping import all_sites_session, current_site, site_session
from moderation.exceptions import QueueUnavailableError
from moderation.policy import Action
from moderation.settings import Settings

log = logging.getLogger(__name__)

RowKey = TypeVar("RowKey")

SCORE_JOB = "workers.jobs.score_comments"
SWEEP_LOCK = "moderation:sweeper:lock"
LIVE_JOB_STATUSES = {b"queued", b"started", b"scheduled", b"deferred"}
OVERDUE_AFTER_SECONDS = 30
"""A scheduled job (a retry) still waiting this long after its time has no scheduler: RQ's
scheduler moves due jobs every second, but when the worker running it dies, another worker
takes the lock over only at its next maintenance, which can be many minutes away."""


def scoring_queue(conn: redis.Redis, settings: Settings, *, bulk: bool = False) -> Queue:
    """The live lane (single comments, small batches) or, with ``bulk``, the bulk lane."""
    name = settings.effective_bulk_queue if bulk else settings.queue
    return Queue(name, connection=conn, default_timeout=settings.job_timeout)


def scoring_queues(conn: redis.Redis, settings: Settings) -> list[Queue]:
    """Both scoring lanes, live first: the order a worker takes jobs in."""
    return [scoring_queue(conn, settings), scoring_queue(conn, settings, bulk=True)]


@dataclass(frozen=True)
class ScoringJobs:
    """Scoring jobs chosen for some comments of one site, not yet in Redis: each job's id
    and comment ids, and the lane."""

    site: str
    bulk: bool
    jobs: list[tuple[str, list[str]]]


def plan_scoring(
    settings: Settings, site: str, comment_ids: Sequence[str], *, bulk: bool | None = None
) -> ScoringJobs:
    """Jobs of ``scoring_batch_size`` ids; up to ``live_batch_limit`` comments go to the live
    lane, more to the bulk lane (or as ``bulk`` says)."""
    if bulk is None:
        bulk = len(comment_ids) > settings.live_batch_limit
    size = settings.scoring_batch_size
    chunks = [list(comment_ids[i : i + size]) for i in range(0, len(comment_ids), size)]
    return ScoringJobs(site, bulk, [(f"score-{uuid.uuid4().hex}", chunk) for chunk in chunks])


def push_scoring(conn: redis.Redis, settings: Settings, planned: ScoringJobs) -> None:
    """Put planned jobs in Redis, all in one round trip. Raises ``QueueUnavailableError``
    when Redis cannot be reached."""
    if not planned.jobs:
        return
    queue = scoring_queue(conn, settings, bulk=planned.bulk)
    try:
        queue.enqueue_many(
            [
                Queue.prepare_data(
                    SCORE_JOB,
                    (chunk, planned.site),
                    job_id=job_id,
                    timeout=settings.job_timeout,
                    result_ttl=3600,
                    failure_ttl=7 * 24 * 3600,
                    retry=Retry(max=2, interval=[2, 10]),
                    description=f"score {len(chunk)} comment(s)",
                )
                for job_id, chunk in planned.jobs
            ]
        )
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise QueueUnavailableError(f"Redis is unreachable: {exc}") from exc


def enqueue_scoring(
    *,
    session: Session,
    conn: redis.Redis,
    settings: Settings,
    comment_ids: Sequence[str],
    bulk: bool | None = None,
) -> list[str]:
    """Enqueue committed comments (:func:`plan_scoring`, :func:`push_scoring`); returns job
    ids. The comments' ``job_id`` are written in one transaction. Raises
    ``QueueUnavailableError`` when Redis cannot be reached; the comments stay pending and
    the sweeper picks them up.

    A single new comment needs no second transaction: its job is planned before the
    comment is committed, its id stored with it, and pushed after the commit
    (``api/routes/comments.py``); a push that fails leaves a job id that is not live,
    which the sweeper treats as no job.
    """
    if not comment_ids:
        return []
    planned = plan_scoring(settings, current_site(session), comment_ids, bulk=bulk)
    push_scoring(conn, settings, planned)
    now = utcnow()
    # One executemany (an UPDATE per comment, still only where the comment is pending).
    session.execute(
        update(Comment)
        .where(Comment.status == CommentStatus.PENDING.value)
        .execution_options(synchronize_session=False),
        [
            {"site_id": planned.site, "id": cid, "job_id": job_id, "enqueued_at": now}
            for job_id, chunk in planned.jobs
            for cid in chunk
        ],
    )
    session.commit()
    return [job_id for job_id, _ in planned.jobs]


def without_live_job(conn: redis.Redis, rows: Sequence[tuple[RowKey, str | None]]) -> list[RowKey]:
    """The keys among ``(key, job_id)`` rows whose RQ job is missing, failed or finished."""
    with_jobs = [(ident, jid) for ident, jid in rows if jid]
    statuses: list[bytes | None] = []
    if with_jobs:
        pipe = conn.pipeline(transaction=False)
        for _, jid in with_jobs:
            pipe.hget(Job.key_for(jid), "status")
        statuses = pipe.execute()
    live = {
        ident
        for (ident, _), status in zip(with_jobs, statuses, strict=True)
        if status in LIVE_JOB_STATUSES
    }
    return [ident for ident, _ in rows if ident not in live]


def requeue_orphans(
    *,
    session_factory: sessionmaker[Session],
    conn: redis.Redis,
    lock: str,
    lock_ms: int,
    rows: Select[str, str | None, str],
    enqueue: Callable[[Session, list[str]], object],
    what: str,
    first: Callable[[], object] | None = None,
) -> int:
    """Enqueue again the outbox rows of every site (``rows`` selects their ``(id, job_id,
    site_id)``) whose job is not live; returns how many. ``enqueue`` gets a session of one
    site and that site's ids. One sweeper at a time: ``lock`` is held for ``lock_ms``, and
    ``first`` runs once the lock is taken."""
    if not conn.set(lock, b"1", nx=True, px=lock_ms):
        return 0  # another worker swept moments ago
    if first is not None:
        first()
    with all_sites_session(session_factory) as session:
        found = session.execute(rows).all()
    site_of = {(site, ident): site for ident, _, site in found}
    orphans = without_live_job(conn, [((site, ident), jid) for ident, jid, site in found])
    if not orphans:
        return 0
    log.info("sweeper: enqueueing %d %s with no live job", len(orphans), what)
    by_site: dict[str, list[str]] = {}
    for key in orphans:
        by_site.setdefault(site_of[key], []).append(key[1])
    for site, ids in by_site.items():
        with site_session(session_factory, site) as session:
            enqueue(session, ids)
    return len(orphans)


def sweep_pending(
    *,
    session_factory: sessionmaker[Session],
    conn: redis.Redis,
    settings: Settings,
    limit: int = 5000,
) -> int:
    """Enqueue pending comments that have no live job; returns how many were enqueued."""
    cutoff = utcnow() - timedelta(seconds=settings.sweep_after_seconds)
    return requeue_orphans(
        session_factory=session_factory,
        conn=conn,
        lock=SWEEP_LOCK,
        lock_ms=int(settings.sweep_interval_seconds * 1000),
        rows=select(Comment.id, Comment.job_id, Comment.site_id)
        .where(Comment.status == CommentStatus.PENDING.value, Comment.received_at <= cutoff)
        .order_by(Comment.received_at)
        .limit(limit),
        enqueue=lambda session, ids: enqueue_scoring(
            session=session, conn=conn, settings=settings, comment_ids=ids
        ),
        what="pending comment(s)",
        # Jobs of a worker that died mid-job go back to their queue here.
        first=lambda: _cleanup_started(conn, settings),
    )


def reaped_queues(conn: redis.Redis, settings: Settings) -> list[Queue]:
    """The queues whose started jobs the sweeper reaps: both scoring lanes and explain."""
    return [*scoring_queues(conn, settings), explain_queue(conn, settings)]


def _cleanup_started(conn: redis.Redis, settings: Settings) -> None:
    queues = reaped_queues(conn, settings)
    reap_dead_workers(queues, live=heartbeats.live_names(conn, queue=settings.queue))
    for queue in queues:
        StartedJobRegistry(queue=queue).cleanup()  # RQ's own expiry, for anything left
    enqueue_overdue(scoring_queues(conn, settings))


def reap_dead_workers(queues: Sequence[Queue], *, live: Collection[str]) -> int:
    """Put the started jobs of workers not in ``live`` (names with a heartbeat) back at the
    front of their queue; returns how many.

    The worker died mid-job (``kill -9``, the OOM killer): its job is neither failed nor done,
    so it is queued again as it was, without spending one of its retries. Each comment counts
    its own scoring attempts, so a comment that kills every worker that scores it is escalated
    after ``max_scoring_attempts``. Should the worker be alive after all (its heartbeat lapsed),
    the job runs twice, which every job here allows: the second run finds its comments decided.
    """
    reaped = 0
    for queue in queues:
        conn = queue.connection
        registry = StartedJobRegistry(queue=queue)
        members = [
            m.decode() if isinstance(m, bytes) else str(m) for m in conn.zrange(registry.key, 0, -1)
        ]
        if not members:
            continue
        with conn.pipeline(transaction=False) as pipe:
            for member in members:
                pipe.hmget(Job.key_for(parse_composite_key(member)[0]), "worker_name", "status")
            rows = pipe.execute()
        for member, (worker, status) in zip(members, rows, strict=True):
            if worker is None or status != JobStatus.STARTED.value.encode():
                continue  # gone, or already finished or failed: RQ's cleanup deals with it
            worker_name = worker.decode()
            if worker_name in live:
                continue
            job_id, _ = parse_composite_key(member)
            try:
                job = Job.fetch(job_id, connection=conn)
            except NoSuchJobError:
                continue
            execution = Execution.from_composite_key(member, conn)
            execution.worker_name = worker_name
            with conn.pipeline() as pipe:
                pipe.multi()  # one transaction; RQ's enqueue_job wants it begun
                execution.delete(job=job, pipeline=pipe)
                queue.enqueue_job(job, pipeline=pipe, at_front=True)
                pipe.execute()
            log.warning(
                "worker %s has no heartbeat: its job %s (%s) is queued again",
                worker_name, job_id, job.description,
            )  # fmt: skip
            reaped += 1
    return reaped


def enqueue_overdue(queues: Sequence[Queue], *, after_seconds: int = OVERDUE_AFTER_SECONDS) -> int:
    """Move the due scheduled jobs of ``queues`` to their queues when the oldest is overdue
    by ``after_seconds`` (no scheduler is running); returns how many queues were moved.

    RQ's own code moves them, as its scheduler would. Should a scheduler come back at the
    same moment and move one twice, the job runs twice, which every job here allows."""
    moved = 0
    cutoff = current_timestamp() - after_seconds
    for queue in queues:
        registry = ScheduledJobRegistry(queue=queue)  # type: ignore[no-untyped-call]
        if not registry.get_jobs_to_schedule(cutoff, chunk_size=1):
            continue
        log.warning("no scheduler moved the due retries of %s; moving them", queue.name)
        scheduler = RQScheduler([queue.name], connection=queue.connection)
        try:
            scheduler.prepare_registries([queue.name])
            scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
        finally:
            scheduler.connection.close()  # a pool of its own, made from the queue's settings
        moved += 1
    return moved


EXPLAIN_JOB = "workers.jobs.explain_comments"


def read_by_people(action: str) -> bool:
    """Whether a comment decided ``action`` is one people read for its reasons (rejected or
    escalated): its evidence spans are queued as soon as it is decided so. An approved
    comment's are computed only when asked for (``ask_explain``)."""
    return action != Action.APPROVE.value


def explain_queue(conn: redis.Redis, settings: Settings) -> Queue:
    """The low-priority queue of ``explain_comments`` jobs (served after scoring and webhooks)."""
    return Queue(settings.explain_queue, connection=conn, default_timeout=settings.job_timeout)


def enqueue_explain(
    *,
    conn: redis.Redis | None,
    settings: Settings,
    site: str,
    comment_ids: Sequence[str],
    at_front: bool = False,
) -> list[str]:
    """After the decision's commit: queue the spans of ``comment_ids``, one job per comment;
    the job ids.

    One comment a job, because a worker runs a job to its end: a live comment that arrives
    meanwhile waits for at most one comment's spans, not a whole batch's. ``at_front``: ahead
    of the spans already queued (someone is waiting for these). Never raises for Redis: a
    decision stands without its spans, which then stay pending."""
    if not comment_ids or conn is None:
        return []
    queue = explain_queue(conn, settings)
    jobs = [
        Queue.prepare_data(
            EXPLAIN_JOB,
            ([comment_id], site),
            timeout=settings.job_timeout,
            result_ttl=600,
            failure_ttl=7 * 24 * 3600,
            retry=Retry(max=2, interval=[5, 30]),
            description=f"explain comment {comment_id}",
            at_front=at_front,
        )
        for comment_id in comment_ids
    ]
    try:
        return [str(job.id) for job in queue.enqueue_many(jobs)]
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.warning("spans of %d comment(s) not queued: %s", len(comment_ids), exc)
        return []


EXPLAIN_ASKED_KEY = "moderation:explain:asked:{}:{}"
EXPLAIN_ASK_SECONDS = 60
"""How long one request for a comment's spans stands: readers polling the comment
meanwhile queue no second job (the job is safe to re-run, this only saves the work)."""


def ask_explain(*, conn: redis.Redis, settings: Settings, site: str, comment_id: str) -> bool:
    """Queue the spans of a decided comment whose spans nobody queued (an approved one);
    whether a job was queued now. At most one request per comment per
    ``EXPLAIN_ASK_SECONDS``. Never raises for Redis: the spans then stay pending."""
    try:
        asked = EXPLAIN_ASKED_KEY.format(site, comment_id)
        if not conn.set(asked, 1, nx=True, ex=EXPLAIN_ASK_SECONDS):
            return False
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.warning("spans of comment %s not queued: %s", comment_id, exc)
        return False
    # Ahead of the queue: after an import, thousands of spans may be waiting there.
    ids = enqueue_explain(
        conn=conn, settings=settings, site=site, comment_ids=[comment_id], at_front=True
    )
    return bool(ids)
