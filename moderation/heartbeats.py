"""Worker heartbeats: which workers will decide comments, seen from any process.

A scoring worker publishes its heartbeat only once its scorers and rules are loaded (or, when
they failed to load, a heartbeat that says so and takes no jobs), and refreshes it every
third of ``worker_heartbeat_ttl_seconds``. A key that expires means the worker is gone:
``/readyz`` stops counting it, and the sweeper puts the jobs it had started back in their
queue (``moderation.queue.reap_dead_workers``) instead of waiting for RQ's job timeout.

Keys, per live scoring queue (``settings.queue``), so deployments sharing a Redis stay apart:

- ``moderation:worker:<queue>:<name>``: the heartbeat (JSON), with a TTL;
- ``moderation:workers:<queue>``: the set of names, pruned by readers of expired ones.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import redis

HEARTBEAT_KEY = "moderation:worker:{queue}:{name}"
HEARTBEATS_KEY = "moderation:workers:{queue}"


class WorkerState(str, Enum):
    READY = "ready"
    """Scorers and rules loaded; taking jobs."""
    FAILED = "failed"
    """Loading failed (``error`` says why); takes no jobs and tries again."""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


@dataclass
class Heartbeat:
    """What a worker says about itself; ``name`` is its RQ worker name."""

    name: str
    pid: int
    host: str
    queues: list[str]
    state: WorkerState
    started_at: str
    scorers: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    rules_version: str | None = None
    rules_refused: list[str] = field(default_factory=list)
    error: str | None = None
    attempts: int = 1
    beat_at: str = ""

    def to_json(self) -> str:
        body = asdict(self) | {"state": self.state.value}
        return json.dumps(body, sort_keys=True)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Heartbeat:
        body: dict[str, Any] = json.loads(raw)
        known = {f for f in cls.__dataclass_fields__}
        body = {k: v for k, v in body.items() if k in known}
        body["state"] = WorkerState(body["state"])
        return cls(**body)

    def public(self) -> dict[str, Any]:
        """As ``/readyz`` shows it."""
        body = asdict(self) | {"state": self.state.value}
        if self.error is None:
            body.pop("error")
            body.pop("attempts")
        if not self.rules_refused:
            body.pop("rules_refused")
        return body


def now_iso() -> str:
    return _iso(time.time())


def publish(conn: redis.Redis, *, queue: str, beat: Heartbeat, ttl_seconds: float) -> None:
    """Write (or refresh) ``beat`` for ``ttl_seconds``."""
    beat.beat_at = now_iso()
    with conn.pipeline(transaction=True) as pipe:
        pipe.set(
            HEARTBEAT_KEY.format(queue=queue, name=beat.name),
            beat.to_json(),
            px=max(1, int(ttl_seconds * 1000)),
        )
        pipe.sadd(HEARTBEATS_KEY.format(queue=queue), beat.name)
        pipe.execute()


def withdraw(conn: redis.Redis, *, queue: str, name: str) -> None:
    """Remove a worker's heartbeat at once (a clean stop)."""
    with conn.pipeline(transaction=True) as pipe:
        pipe.delete(HEARTBEAT_KEY.format(queue=queue, name=name))
        pipe.srem(HEARTBEATS_KEY.format(queue=queue), name)
        pipe.execute()


def live(conn: redis.Redis, *, queue: str) -> list[Heartbeat]:
    """Every heartbeat that has not expired, ordered by name; forgets the expired ones."""
    index = HEARTBEATS_KEY.format(queue=queue)
    names = sorted(n.decode() if isinstance(n, bytes) else str(n) for n in conn.smembers(index))
    if not names:
        return []
    raws = conn.mget([HEARTBEAT_KEY.format(queue=queue, name=n) for n in names])
    beats: list[Heartbeat] = []
    gone: list[str] = []
    for name, raw in zip(names, raws, strict=True):
        if raw is None:
            gone.append(name)
            continue
        try:
            beats.append(Heartbeat.from_json(raw))
        except (ValueError, TypeError, KeyError):
            gone.append(name)  # not ours, or from an incompatible version: not a live worker
    if gone:
        conn.srem(index, *gone)
    return beats


def ready_workers(beats: list[Heartbeat], queue: str) -> list[Heartbeat]:
    """The heartbeats of workers that will decide comments of ``queue`` now."""
    return [b for b in beats if b.state is WorkerState.READY and queue in b.queues]


def live_names(conn: redis.Redis, *, queue: str) -> set[str]:
    """Names of the workers with a live heartbeat, whatever their state."""
    return {b.name for b in live(conn, queue=queue)}
