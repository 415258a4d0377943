"""Between the database and the workers: scoring jobs carry only comment ids.

The API commits a comment, then enqueues. If Redis is down at that moment the comment
stays ``pending`` with no job, and ``sweep_pending`` (run by workers) enqueues it once
Redis is back. It also re-enqueues comments whose job was lost (Redis restarted empty,
job failed, worker killed), so an accepted comment always reaches a decision.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta

import redis
from rq import Queue, Retry
from rq.job import Job
from rq.registry import StartedJobRegistry
from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session, sessionmaker

from moderation.db.models import Comment, CommentStatus, utcnow
from moderation.exceptions import QueueUnavailableError
from moderation.settings import Settings

log = logging.getLogger(__name__)

SCORE_JOB = "workers.jobs.score_comments"
SWEEP_LOCK = "moderation:sweeper:lock"
LIVE_JOB_STATUSES = {b"queued", b"started", b"scheduled", b"deferred"}


def scoring_queue(conn: redis.Redis, settings: Settings) -> Queue:
    return Queue(settings.queue, connection=conn, default_timeout=settings.job_timeout)


def enqueue_scoring(
    *,
    session: Session,
    conn: redis.Redis,
    settings: Settings,
    comment_ids: Sequence[str],
) -> list[str]:
    """Enqueue committed comments in jobs of ``scoring_batch_size`` ids; returns job ids.

    Raises ``QueueUnavailableError`` when Redis cannot be reached; the comments stay
    pending and the sweeper picks them up.
    """
    queue = scoring_queue(conn, settings)
    size = settings.scoring_batch_size
    job_ids: list[str] = []
    for start in range(0, len(comment_ids), size):
        chunk = list(comment_ids[start : start + size])
        job_id = f"score-{uuid.uuid4().hex}"
        try:
            queue.enqueue(
                SCORE_JOB,
                chunk,
                job_id=job_id,
                job_timeout=settings.job_timeout,
                result_ttl=3600,
                failure_ttl=7 * 24 * 3600,
                retry=Retry(max=2, interval=[2, 10]),
                description=f"score {len(chunk)} comment(s)",
            )
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise QueueUnavailableError(f"Redis is unreachable: {exc}") from exc
        session.execute(
            update(Comment)
            .where(Comment.id.in_(chunk), Comment.status == CommentStatus.PENDING.value)
            .values(job_id=job_id, enqueued_at=utcnow())
        )
        session.commit()
        job_ids.append(job_id)
    return job_ids


def without_live_job(conn: redis.Redis, rows: Sequence[tuple[str, str | None]]) -> list[str]:
    """The ids among ``(id, job_id)`` rows whose RQ job is missing, failed or finished."""
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
    rows: Select[str, str | None],
    enqueue: Callable[[Session, list[str]], object],
    what: str,
    first: Callable[[], object] | None = None,
) -> int:
    """Enqueue again the outbox rows (``rows`` selects their ``(id, job_id)``) whose job is
    not live; returns how many. One sweeper at a time: ``lock`` is held for ``lock_ms``,
    and ``first`` runs once the lock is taken."""
    if not conn.set(lock, b"1", nx=True, px=lock_ms):
        return 0  # another worker swept moments ago
    if first is not None:
        first()
    with session_factory() as session:
        found = session.execute(rows).all()
        orphans = without_live_job(conn, [(ident, jid) for ident, jid in found])
        if not orphans:
            return 0
        log.info("sweeper: enqueueing %d %s with no live job", len(orphans), what)
        enqueue(session, orphans)
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
        rows=select(Comment.id, Comment.job_id)
        .where(Comment.status == CommentStatus.PENDING.value, Comment.received_at <= cutoff)
        .order_by(Comment.received_at)
        .limit(limit),
        enqueue=lambda session, ids: enqueue_scoring(
            session=session, conn=conn, settings=settings, comment_ids=ids
        ),
        what="pending comment(s)",
        # Jobs of a worker that died mid-job are moved to the failed registry here.
        first=StartedJobRegistry(queue=scoring_queue(conn, settings)).cleanup,
    )
