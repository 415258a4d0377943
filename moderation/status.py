"""``moderation status``: the deployment on one screen, for operators.

``gather`` reads a ``Status`` snapshot from a Redis connection and a session factory passed
in; ``render`` turns it into a ``rich`` renderable; ``Status.as_dict`` is the ``--json`` form.
It shows

- the queues: jobs waiting in each (the live and bulk scoring lanes, explain, webhooks), how
  long the oldest has waited, and RQ's started, scheduled and failed registries;
- the workers, from their heartbeats (``moderation.heartbeats``, what ``/readyz`` reads) and
  RQ's record of each: busy or idle, the comments it is scoring, the rules version it has
  loaded (and whether the scoring workers agree on one);
- per site: pending comments and the oldest, escalations waiting for a moderator (open and
  claimed, the oldest open one), the webhook outbox (pending, retrying, failed, how late
  the oldest due delivery is).

The database is read in a fixed number of queries (six, however many sites), in one
read-only session; Redis in a few round trips per queue and per worker. Nothing is written,
except that reading heartbeats forgets expired workers' names, as ``/readyz`` does.
Queues and workers are the deployment's (sites share them); ``site`` narrows the database
figures to one site. This module loads no model: it is on the operator's path only.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.utils import utcparse
from sqlalchemy import Row, and_, case, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from moderation import heartbeats
from moderation.db.models import (
    Comment,
    CommentStatus,
    DeliveryStatus,
    ReviewClaim,
    RulesVersion,
    Site,
    WebhookDelivery,
    utcnow,
)
from moderation.db.scoping import ALL_SITES
from moderation.db.session import database_unavailable, read_only
from moderation.exceptions import (
    DatabaseUnavailableError,
    NotFoundError,
    QueueUnavailableError,
)
from moderation.heartbeats import Heartbeat, WorkerState
from moderation.queue import explain_queue, scoring_queues
from moderation.settings import Settings
from moderation.webhooks import webhook_queue

OLDEST_JOB_SCAN = 500
"""How many of a queue's first job ids are read for the oldest job's age. Jobs are queued at
the back, except those put back at the front (a dead worker's, an asked-for explanation),
so the oldest is nearly always among the first few; the scan keeps a huge queue cheap."""

VERSION_CHARS = 12
"""Rules versions are SHA-256 hex; the screen shows their first characters, as logs do."""


class _WorkerRecord(Worker):
    """RQ's record of a worker, read from another process. RQ's ``Worker`` raises the
    connection's socket timeout to what its blocking dequeue needs (minutes); a look at
    Redis keeps the short one it was given (a hung Redis must not freeze ``--watch``)."""

    @property
    def connection_timeout(self) -> int:
        return 1


# --- the snapshot ---------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueStatus:
    """One RQ queue."""

    name: str
    lane: str
    """What it carries: ``live`` and ``bulk`` (scoring), ``explain``, ``webhooks``."""
    queued: int
    oldest_queued_seconds: float | None
    """How long the longest-waiting queued job has waited; None when none is queued."""
    started: int
    """Jobs a worker has started and not finished (RQ's started registry)."""
    scheduled: int
    """Jobs waiting for their time: retries, and moderators' decisions held for undo."""
    failed: int
    """RQ's failed job registry: jobs that ran out of retries (kept for a week)."""


@dataclass(frozen=True)
class CurrentJob:
    """A job a worker is running now."""

    id: str
    function: str
    """What it runs: ``workers.jobs.score_comments``, ``workers.jobs.deliver_webhook``..."""
    description: str
    started_seconds: float | None
    """How long it has been running."""
    site: str | None = None
    comment_ids: list[str] = field(default_factory=list)
    """The comments a scoring, explain or reconsideration job works on."""


@dataclass(frozen=True)
class WorkerStatus:
    """One worker process, as its heartbeat and RQ see it."""

    name: str
    kind: str
    """``scoring`` or ``webhooks``."""
    host: str
    pid: int
    state: str
    """``busy``, ``idle``, ``failed`` (its scorers or rules did not load: ``error``),
    ``starting`` (loaded, not yet taking jobs) or ``suspended`` (``rq suspend``)."""
    rules_version: str | None
    heartbeat_seconds: float | None
    """How long ago it last published its heartbeat."""
    jobs: list[CurrentJob] = field(default_factory=list)
    error: str | None = None
    rules_refused: list[str] = field(default_factory=list)

    @property
    def comment_ids(self) -> list[str]:
        return [cid for job in self.jobs for cid in job.comment_ids]


@dataclass(frozen=True)
class PendingComment:
    """The comment that has waited longest for a decision."""

    id: str
    site: str
    received_at: datetime
    age_seconds: float


@dataclass(frozen=True)
class RulesStatus:
    active: str | None
    """The version the ready scoring workers decide with (the most common one if they
    disagree); None when no worker has rules loaded."""
    agree: bool
    """Every ready scoring worker has the same version loaded."""
    versions: dict[str, list[str]]
    """Version -> the names of the workers that have it loaded."""
    refused: list[str]
    """Errors of a rules file the workers refused (the last good version keeps deciding)."""
    last_recorded: str | None
    """The version that became active most recently anywhere (the ``rules_versions`` table:
    sites' own rules files count too)."""
    last_recorded_at: datetime | None


@dataclass(frozen=True)
class SiteStatus:
    """One site's comments, reviews and webhook outbox."""

    site: str
    pending: int = 0
    oldest_pending_seconds: float | None = None
    escalated_open: int = 0
    """Escalated comments no moderator holds: the review queue's open ones."""
    escalated_claimed: int = 0
    oldest_open_escalation_seconds: float | None = None
    webhooks_pending: int = 0
    """Deliveries not yet delivered: due, held for the undo window, or waiting to retry."""
    webhooks_retrying: int = 0
    """Of the pending ones, those with at least one failed attempt."""
    webhooks_failed: int = 0
    """Deliveries that ran out of retries (``POST /v1/webhooks/deliveries/ID/redeliver``)."""
    oldest_due_webhook_seconds: float | None = None
    """How long past its time the most overdue pending delivery is."""


@dataclass(frozen=True)
class Status:
    taken_at: datetime
    site: str | None
    """The one site the database figures are about; None: every site."""
    queues: list[QueueStatus]
    workers: list[WorkerStatus]
    oldest_pending: PendingComment | None
    rules: RulesStatus
    sites: list[SiteStatus]

    @property
    def pending(self) -> int:
        return sum(s.pending for s in self.sites)

    @property
    def escalated_open(self) -> int:
        return sum(s.escalated_open for s in self.sites)

    @property
    def webhooks_pending(self) -> int:
        return sum(s.webhooks_pending for s in self.sites)

    @property
    def webhooks_failed(self) -> int:
        return sum(s.webhooks_failed for s in self.sites)

    def attention(self) -> list[str]:
        """What needs an operator's look, one line each (empty: nothing)."""
        notes: list[str] = []
        scoring = [w for w in self.workers if w.kind == "scoring"]
        if not any(w.state not in ("failed", "starting") for w in scoring):
            notes.append("no scoring worker is taking jobs: comments wait (moderation worker)")
        if self.webhooks_pending and not any(w.kind == "webhooks" for w in self.workers):
            notes.append("no webhook worker is running: deliveries wait (moderation worker "
                         "--webhooks)")  # fmt: skip
        for worker in self.workers:
            if worker.state == "failed":
                notes.append(f"worker {worker.name} takes no jobs: {worker.error}")
        if not self.rules.agree:
            versions = ", ".join(
                f"{v[:VERSION_CHARS]} ({len(names)})" for v, names in self.rules.versions.items()
            )
            notes.append(f"workers decide with different rules versions: {versions}")
        if self.rules.refused:
            notes.append(
                f"rules file refused ({len(self.rules.refused)} problem(s): "
                f"{self.rules.refused[0]}); the last good version keeps deciding"
            )
        for queue in self.queues:
            if queue.failed:
                notes.append(f"{queue.failed} failed job(s) in queue {queue.name} (rq info)")
        retrying = sum(s.webhooks_retrying for s in self.sites)
        if retrying:
            notes.append(
                f"{retrying} webhook delivery(ies) failed and wait to retry: is the publisher's "
                "endpoint up? (GET /v1/webhooks/deliveries?status=pending)"
            )
        if self.webhooks_failed:
            notes.append(
                f"{self.webhooks_failed} webhook delivery(ies) gave up "
                "(POST /v1/webhooks/deliveries/ID/redeliver)"
            )
        return notes

    def as_dict(self) -> dict[str, Any]:
        """The snapshot as JSON-ready data (``moderation status --json``)."""

        def plain(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list):
                return [plain(v) for v in value]
            if isinstance(value, float):
                return round(value, 3)
            return value

        body = plain(asdict(self))
        body["totals"] = {
            "pending": self.pending,
            "escalated_open": self.escalated_open,
            "webhooks_pending": self.webhooks_pending,
            "webhooks_failed": self.webhooks_failed,
        }
        body["attention"] = self.attention()
        return dict(body)


# --- gathering ------------------------------------------------------------------------------
def gather(
    *,
    conn: redis.Redis,
    session_factory: sessionmaker[Session],
    settings: Settings,
    site: str | None = None,
    now: datetime | None = None,
) -> Status:
    """A snapshot of the queues and workers in ``conn`` and the database of
    ``session_factory``; ``site``: the database figures of that site only.

    Raises ``QueueUnavailableError`` when Redis cannot be reached,
    ``DatabaseUnavailableError`` when the database cannot (or is not migrated), and
    ``NotFoundError`` for a ``site`` that does not exist."""
    now = now or utcnow()
    try:
        queues = [_queue_status(q, lane, now) for q, lane in _queues(conn, settings)]
        workers = _workers(conn, settings, now)
    except redis.RedisError as exc:
        raise QueueUnavailableError(f"Redis is unreachable: {exc}") from exc
    try:
        with read_only(session_factory, site or ALL_SITES) as session:
            sites, oldest, recorded = _database(session, site, now)
    except sa_exc.SQLAlchemyError as exc:
        raise _database_error(exc) from exc
    return Status(
        taken_at=now,
        site=site,
        queues=queues,
        workers=workers,
        oldest_pending=oldest,
        rules=_rules(workers, recorded),
        sites=sites,
    )


def _database_error(exc: sa_exc.SQLAlchemyError) -> DatabaseUnavailableError:
    unavailable = database_unavailable(exc)
    if unavailable is not None:
        return unavailable
    orig = getattr(exc, "orig", None) or exc
    detail = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return DatabaseUnavailableError(
        f"the database cannot be read ({detail}); is it migrated? (moderation db upgrade)",
        busy=False,
    )


def _queues(conn: redis.Redis, settings: Settings) -> list[tuple[Queue, str]]:
    live, bulk = scoring_queues(conn, settings)
    return [
        (live, "live"),
        (bulk, "bulk"),
        (explain_queue(conn, settings), "explain"),
        (webhook_queue(conn, settings), "webhooks"),
    ]


def _age(since: datetime | None, now: datetime) -> float | None:
    if since is None:
        return None
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return max(0.0, (now - since).total_seconds())


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _queue_status(queue: Queue, lane: str, now: datetime) -> QueueStatus:
    conn = queue.connection
    ids = [_text(i) for i in conn.lrange(queue.key, 0, OLDEST_JOB_SCAN - 1)]
    oldest: datetime | None = None
    if ids:
        with conn.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(Job.key_for(job_id), "enqueued_at")
            stamps = [utcparse(_text(raw)) for raw in pipe.execute() if raw]
        oldest = min(stamps, default=None)
    with conn.pipeline(transaction=False) as pipe:
        pipe.llen(queue.key)
        for registry in (
            StartedJobRegistry(queue=queue),
            ScheduledJobRegistry(queue=queue),  # type: ignore[no-untyped-call]
            FailedJobRegistry(queue=queue),
        ):
            pipe.zcard(registry.key)  # as RQ's count, without its clean-up (a write)
        queued, started, scheduled, failed = pipe.execute()
    return QueueStatus(
        name=queue.name,
        lane=lane,
        queued=int(queued),
        oldest_queued_seconds=_age(oldest, now) if queued else None,
        started=int(started),
        scheduled=int(scheduled),
        failed=int(failed),
    )


def _workers(conn: redis.Redis, settings: Settings, now: datetime) -> list[WorkerStatus]:
    found: list[WorkerStatus] = []
    for kind, queue in (("scoring", settings.queue), ("webhooks", settings.webhook_queue)):
        for beat in heartbeats.live(conn, queue=queue):
            found.append(_worker(conn, kind, beat, now))
    return found


def _worker(conn: redis.Redis, kind: str, beat: Heartbeat, now: datetime) -> WorkerStatus:
    """A heartbeat and RQ's record of the same worker (a worker registers with RQ under its
    heartbeat's name once it takes jobs)."""
    rq_worker = None
    if beat.state is WorkerState.READY:
        key = Worker.redis_worker_namespace_prefix + beat.name
        rq_worker = _WorkerRecord.find_by_key(key, conn)
    jobs: list[CurrentJob] = []
    if beat.state is WorkerState.FAILED:
        state = "failed"
    elif rq_worker is None:
        state = "starting"
    else:
        executions = rq_worker.get_current_executions()
        started = {e.job_id: e.created_at for e in executions}
        fetched = Job.fetch_many(list(started), connection=conn) if started else []
        jobs = [_current_job(job, _age(started.get(job.id), now)) for job in fetched if job]
        rq_state = rq_worker.get_state()
        if rq_state == "suspended":
            state = "suspended"
        elif jobs or rq_state == "busy":
            state = "busy"
        else:
            state = "starting" if rq_state == "started" else "idle"
    beat_at = datetime.fromisoformat(beat.beat_at) if beat.beat_at else None
    return WorkerStatus(
        name=beat.name,
        kind=kind,
        host=beat.host,
        pid=beat.pid,
        state=state,
        rules_version=beat.rules_version,
        heartbeat_seconds=_age(beat_at, now),
        jobs=sorted(jobs, key=lambda j: (-(j.started_seconds or 0.0), j.id)),  # oldest first
        error=beat.error,
        rules_refused=list(beat.rules_refused),
    )


def _current_job(job: Job, running: float | None) -> CurrentJob:
    site: str | None = None
    ids: list[str] = []
    try:
        args = job.args
    except Exception:  # noqa: BLE001 - a job this version cannot read: show its description
        args = []
    if args and isinstance(args[0], list):  # scoring, explain, reconsider: (ids, site)
        ids = [str(i) for i in args[0]]
        site = str(args[1]) if len(args) > 1 else None
    return CurrentJob(
        id=job.id,
        function=job.func_name or "",
        description=job.description or job.func_name or "",
        started_seconds=running,
        site=site,
        comment_ids=ids,
    )


def _rules(workers: Sequence[WorkerStatus], recorded: Row[str, datetime] | None) -> RulesStatus:
    loaded = [w for w in workers if w.kind == "scoring" and w.rules_version]
    versions: dict[str, list[str]] = {}
    for worker in loaded:
        versions.setdefault(str(worker.rules_version), []).append(worker.name)
    counts = Counter({v: len(names) for v, names in versions.items()})
    # The most common version; a tie goes to the one that sorts first, so it is stable.
    active = min(counts, key=lambda v: (-counts[v], v)) if counts else None
    refused = list(dict.fromkeys(e for w in workers for e in w.rules_refused))
    return RulesStatus(
        active=active,
        agree=len(versions) <= 1,
        versions=dict(sorted(versions.items())),
        refused=refused,
        last_recorded=recorded.hash if recorded else None,
        last_recorded_at=_utc(recorded.first_active_at) if recorded else None,
    )


def _database(
    session: Session, site: str | None, now: datetime
) -> tuple[list[SiteStatus], PendingComment | None, Row[str, datetime] | None]:
    """Six queries, whatever the number of sites; a session of ``site`` (its rows only) or
    of every site."""
    sites_query = select(Site.id).order_by(Site.id)
    site_ids = list(session.scalars(sites_query.where(Site.id == site) if site else sites_query))
    if site and site not in site_ids:
        raise NotFoundError("site", site)
    figures: dict[str, dict[str, Any]] = {s: {} for s in site_ids}

    def each(rows: Iterable[Any], *names: str) -> None:
        for row in rows:
            figures.setdefault(row[0], {}).update(zip(names, row[1:], strict=True))

    pending = CommentStatus.PENDING.value
    each(
        session.execute(
            select(Comment.site_id, func.count(), func.min(Comment.received_at))
            .where(Comment.status == pending)
            .group_by(Comment.site_id)
        ),
        "pending",
        "oldest_pending",
    )
    live_claim = and_(
        ReviewClaim.site_id == Comment.site_id,
        ReviewClaim.comment_id == Comment.id,
        ReviewClaim.expires_at > now,
    )
    is_open = ReviewClaim.comment_id.is_(None)
    each(
        session.execute(
            select(
                Comment.site_id,
                func.count(case((is_open, 1))),
                func.count(ReviewClaim.comment_id),
                func.min(case((is_open, Comment.decided_at))),
            )
            .outerjoin(ReviewClaim, live_claim)
            .where(Comment.status == CommentStatus.ESCALATED.value)
            .group_by(Comment.site_id)
        ),
        "escalated_open",
        "escalated_claimed",
        "oldest_open_escalation",
    )
    delivery = WebhookDelivery
    is_pending = delivery.status == DeliveryStatus.PENDING.value
    is_due = and_(is_pending, delivery.next_attempt_at <= now)
    each(
        session.execute(
            select(
                delivery.site_id,
                func.count(case((is_pending, 1))),
                func.count(case((and_(is_pending, delivery.attempts > 0), 1))),
                func.count(case((delivery.status == DeliveryStatus.FAILED.value, 1))),
                func.min(case((is_due, delivery.next_attempt_at))),
            )
            .where(delivery.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]))
            .group_by(delivery.site_id)
        ),
        "webhooks_pending",
        "webhooks_retrying",
        "webhooks_failed",
        "oldest_due_webhook",
    )
    oldest_row = session.execute(
        select(Comment.id, Comment.site_id, Comment.received_at)
        .where(Comment.status == pending)
        .order_by(Comment.received_at, Comment.site_id, Comment.id)
        .limit(1)
    ).first()
    recorded = session.execute(
        select(RulesVersion.hash, RulesVersion.first_active_at)
        .order_by(RulesVersion.first_active_at.desc())
        .limit(1)
    ).first()
    sites = [
        SiteStatus(
            site=site_id,
            pending=int(f.get("pending") or 0),
            oldest_pending_seconds=_age(_utc(f.get("oldest_pending")), now),
            escalated_open=int(f.get("escalated_open") or 0),
            escalated_claimed=int(f.get("escalated_claimed") or 0),
            oldest_open_escalation_seconds=_age(_utc(f.get("oldest_open_escalation")), now),
            webhooks_pending=int(f.get("webhooks_pending") or 0),
            webhooks_retrying=int(f.get("webhooks_retrying") or 0),
            webhooks_failed=int(f.get("webhooks_failed") or 0),
            oldest_due_webhook_seconds=_age(_utc(f.get("oldest_due_webhook")), now),
        )
        for site_id, f in sorted(figures.items())
    ]
    oldest = None
    if oldest_row is not None:
        received = _utc(oldest_row.received_at)
        assert received is not None
        oldest = PendingComment(
            id=oldest_row.id,
            site=oldest_row.site_id,
            received_at=received,
            age_seconds=_age(received, now) or 0.0,
        )
    return sites, oldest, recorded


def _utc(value: Any) -> datetime | None:
    """A timestamp from an aggregate (``min``), which SQLAlchemy returns without the column
    type's processing on some backends: a string on SQLite, naive or aware elsewhere."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- rendering ------------------------------------------------------------------------------
def age(seconds: float | None) -> str:
    """``4 s``, ``12 min``, ``3 h 05 min``, ``2 d 04 h``; ``-`` for none."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600:02d} h"


def _short(version: str | None) -> str:
    return version[:VERSION_CHARS] if version else "-"


VERBS = {
    "score_comments": "scoring",
    "explain_comments": "explaining",
    "reconsider_comments": "reconsidering",
}


def _name(name: str) -> str:
    """Worker names are uuid4 hex unless given: the first characters tell them apart."""
    return name if len(name) <= 14 else name[:12] + "…"


def _doing(worker: WorkerStatus) -> str:
    """``scoring 32 comments of default: c1, c2, c3 +29 (4 s)``, or the jobs' descriptions."""
    if not worker.jobs:
        return ""
    running = age(max(j.started_seconds or 0.0 for j in worker.jobs))
    ids = worker.comment_ids
    if not ids:
        return "; ".join(j.description for j in worker.jobs) + f" for {running}"
    functions = {j.function.rpartition(".")[2] for j in worker.jobs}
    verb = VERBS.get(functions.pop(), "on") if len(functions) == 1 else "on"
    sites = ", ".join(sorted({str(j.site) for j in worker.jobs if j.comment_ids}))
    more = f" +{len(ids) - 3}" if len(ids) > 3 else ""
    n = f"{len(ids)} comment{'s' if len(ids) != 1 else ''}"
    return f"{verb} {n} of {sites} for {running}: {', '.join(ids[:3])}{more}"


def _table(title: str, *columns: str, right: Iterable[str] = ()) -> Table:
    table = Table(
        title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
        show_edge=False, pad_edge=False,
    )  # fmt: skip
    for name in columns:
        table.add_column(name, justify="right" if name in right else "left")
    return table


def render(status: Status) -> RenderableType:
    """The snapshot as one screen (80 columns): queues, workers, rules, the oldest pending
    comment, each site's comments and reviews and its webhook outbox, what needs a look."""
    scope = f"site {status.site}" if status.site else "every site"
    header = Text.assemble(
        ("moderation status", "bold"),
        f"  {status.taken_at.strftime('%Y-%m-%d %H:%M:%S')} UTC, {scope}",
    )

    counts = ("queued", "oldest", "running", "scheduled", "failed")
    queues = _table("Queues", "queue", "lane", *counts, right=counts)
    for q in status.queues:
        queues.add_row(q.name, q.lane, str(q.queued), age(q.oldest_queued_seconds),
                       str(q.started), str(q.scheduled), str(q.failed))  # fmt: skip

    workers = _table("Workers", "worker", "kind", "host", "pid", "state", "rules", "seen",
                     right=("pid", "seen"))  # fmt: skip
    for w in status.workers:
        state_style = {"busy": "bold", "failed": "red", "starting": "yellow"}.get(w.state, "")
        workers.add_row(
            _name(w.name), w.kind, w.host, str(w.pid), Text(w.state, style=state_style),
            _short(w.rules_version), age(w.heartbeat_seconds),
        )  # fmt: skip
    if not status.workers:
        workers.add_row(Text("none", style="red"), "", "", "", "", "", "")
    busy = Table.grid(padding=(0, 1))
    busy.add_column(no_wrap=True)
    busy.add_column()
    for w in status.workers:
        if w.jobs:
            busy.add_row(f"  {_name(w.name)}", _doing(w))
    if not busy.row_count:
        busy.add_row(Text("  no job running", style="dim"), "")

    rules = status.rules
    if rules.active is None:
        rules_line = "none loaded (no scoring worker)"
    else:
        n = len(rules.versions.get(rules.active, []))
        rules_line = f"{_short(rules.active)} on {n} worker{'s' if n != 1 else ''}"
        if not rules.agree:
            rules_line += f", {len(rules.versions) - 1} other version(s) on the rest"
    if rules.last_recorded and rules.last_recorded_at:
        when = rules.last_recorded_at.strftime("%Y-%m-%d %H:%M")
        rules_line += f" (newest: {_short(rules.last_recorded)}, {when})"
    oldest = status.oldest_pending
    pending_line = (
        f"{oldest.id} on site {oldest.site}, waiting {age(oldest.age_seconds)}"
        if oldest
        else "none"
    )
    lines = Text.assemble(
        ("Rules: ", "bold"), rules_line, "\n",
        ("Oldest pending comment: ", "bold"), pending_line,
    )  # fmt: skip

    figures = ("pending", "oldest", "open reviews", "claimed", "oldest open")
    comments = _table("Comments and reviews", "site", *figures, right=figures)
    outbox = ("pending", "retrying", "failed", "overdue")
    webhooks = _table("Webhook outbox", "site", *outbox, right=outbox)
    for s in status.sites:
        comments.add_row(
            s.site, str(s.pending), age(s.oldest_pending_seconds), str(s.escalated_open),
            str(s.escalated_claimed), age(s.oldest_open_escalation_seconds),
        )  # fmt: skip
        webhooks.add_row(s.site, str(s.webhooks_pending), str(s.webhooks_retrying),
                         str(s.webhooks_failed), age(s.oldest_due_webhook_seconds))  # fmt: skip

    notes = status.attention()
    attention: RenderableType = Text("Nothing needs a look.", style="green")
    if notes:
        listed = Table.grid(padding=(0, 1))
        listed.add_column(no_wrap=True)
        listed.add_column()
        for note in notes:
            listed.add_row("  -", note)
        attention = Group(Text("Needs a look:", style="bold red"), listed)
    spaced: list[RenderableType] = [header]
    for part in (queues, Group(workers, busy), lines, comments, webhooks, attention):
        spaced += [Text(), part]
    return Group(*spaced)


def render_error(message: str, taken_at: datetime) -> RenderableType:
    """What ``--watch`` shows while Redis or the database cannot be reached."""
    return Group(
        Text.assemble(
            ("moderation status", "bold"), f"  {taken_at.strftime('%Y-%m-%d %H:%M:%S')} UTC"
        ),
        Text(f"unavailable: {message}", style="red"),
        Text("(trying again)"),
    )


# --- the command ----------------------------------------------------------------------------
def run_status(args: Any, *, settings: Settings | None = None, console: Any = None) -> int:
    """``moderation status [--site SITE] [--watch] [--interval S] [--json]``.

    Redis and the database come from the settings; when either cannot be reached the
    command says so in one line (``moderation: error: ...``) and exits 1. ``--watch`` shows
    the screen again every ``--interval`` seconds until Ctrl-C (an outage meanwhile is shown
    and waited out)."""
    from rich.console import Console
    from rich.live import Live

    from moderation.connections import connect, resolve_redis_url
    from moderation.db.session import make_engine, make_session_factory
    from moderation.settings import get_settings

    settings = settings or get_settings()
    console = console or Console()
    redis_url = resolve_redis_url(settings.redis_url, settings.var_dir)
    database_url = settings.effective_database_url
    _check_sqlite_file(database_url)
    conn = connect(redis_url)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)

    def snapshot() -> Status:
        try:
            return gather(conn=conn, session_factory=factory, settings=settings, site=args.site)
        except QueueUnavailableError as exc:
            raise QueueUnavailableError(f"{exc} ({_hide_password(redis_url)})") from exc
        except DatabaseUnavailableError as exc:
            raise DatabaseUnavailableError(
                f"{exc} ({_hide_password(database_url)})", busy=exc.busy
            ) from exc

    try:
        status = snapshot()
        if args.json:
            print(json.dumps(status.as_dict(), indent=2, ensure_ascii=False))
            return 0
        if not args.watch:
            console.print(render(status))
            return 0
        with Live(render(status), console=console, auto_refresh=False) as live:
            try:
                while True:
                    time.sleep(args.interval)
                    try:
                        view = render(snapshot())
                    except (QueueUnavailableError, DatabaseUnavailableError) as exc:
                        view = render_error(str(exc), utcnow())
                    live.update(view, refresh=True)
            except KeyboardInterrupt:  # the way to end --watch
                return 0
    finally:
        conn.close()
        engine.dispose()


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    if url.startswith(("redis://", "rediss://", "unix://")):
        scheme, _, rest = url.partition("://")
        credentials, at, host = rest.rpartition("@")
        return f"{scheme}://{'***@' if at else ''}{host}"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return url


def _check_sqlite_file(url: str) -> None:
    """A SQLite database that does not exist is not created empty by a look at it."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from moderation.exceptions import ConfigurationError

    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return
    if path.startswith("file:"):
        return
    if not Path(path).exists():
        raise ConfigurationError(
            f"no database at {path} (MODERATION_DATABASE_URL; `moderation serve` or "
            "`moderation db upgrade` creates it)"
        )
