"""Prometheus metrics: what every process counts, gathered in Redis, served at ``/metrics``.

The API processes and the workers run apart (in containers of their own, on other machines),
so each process counts in memory (``inc``, ``observe``: a dict update, no I/O on the path of
a comment) and a ``Flusher`` adds those counts to Redis every second, one pipeline of
``HINCRBYFLOAT``; workers also flush after each scoring pass. ``/metrics`` reads the sums from
Redis and adds the gauges it measures at scrape time (queues, workers, escalations, webhook
backlog: ``moderation.status``), so one scrape of any API process sees the whole deployment.

Keys, per scoring queue (``settings.queue``) as for heartbeats, so deployments sharing a
Redis stay apart: ``moderation:metrics:<queue>:<metric>``, a hash from the labels' values
(JSON) to the count; a histogram's fields add ``|<bucket index>``, ``|sum`` and ``|count``.

``METRICS`` is the catalogue: the only names that exist (``deploy/grafana`` and
``deploy/prometheus`` are checked against it).
"""

from __future__ import annotations

import bisect
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import redis
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.core import (
    Metric as PromMetric,
)
from prometheus_client.registry import Collector, CollectorRegistry

log = logging.getLogger(__name__)

Kind = Literal["counter", "histogram", "gauge"]

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 86400)
"""Submit to decision: a worker's decision takes a second or less, a person's minutes to hours."""
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    @property
    def series(self) -> tuple[str, ...]:
        """The names a scrape shows for it (a histogram's three series)."""
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


def _counter(name: str, help: str, *labels: str) -> Metric:
    return Metric(name, "counter", help, labels)


def _gauge(name: str, help: str, *labels: str) -> Metric:
    return Metric(name, "gauge", help, labels)


def _histogram(name: str, help: str, buckets: tuple[float, ...], *labels: str) -> Metric:
    return Metric(name, "histogram", help, labels, buckets)


COMMENTS_RECEIVED = _counter(
    "moderation_comments_received_total", "Comments stored (new ids, not retries)", "site"
)
DECISIONS = _counter(
    "moderation_decisions_total",
    "Decisions recorded, by the workers' rules or by a moderator ('' rule: none matched, or "
    "a moderator's)",
    "site",
    "action",
    "decided_by",
    "rule",
)
DECISION_LATENCY = _histogram(
    "moderation_decision_latency_seconds",
    "From a comment's arrival to its decision (decided_by rules: the worker's; moderator: "
    "the person's)",
    LATENCY_BUCKETS,
    "site",
    "decided_by",
)
SCORER_BATCH = _histogram(
    "moderation_scorer_batch_size", "Comments per call of a scorer", BATCH_BUCKETS, "scorer"
)
SCORER_DURATION = _histogram(
    "moderation_scorer_duration_seconds",
    "Seconds per call of a scorer (one batch)",
    DURATION_BUCKETS,
    "scorer",
)
SCORING_FAILURES = _counter(
    "moderation_scoring_failures_total",
    "Scoring passes that failed (their jobs are retried; past the attempts the comments are "
    "escalated)",
)
WEBHOOK_DELIVERIES = _counter(
    "moderation_webhook_deliveries_total",
    "Webhook attempts: delivered, retry (failed, tried again later) or failed (given up)",
    "outcome",
)
RULES_RELOADS = _counter(
    "moderation_rules_reloads_total",
    "Rules files loaded (a new version) or refused (the last good version keeps deciding), "
    "per process that reloads them",
    "outcome",
)
HTTP_REQUESTS = _counter(
    "moderation_http_requests_total",
    "API requests answered, by route template and status",
    "method",
    "route",
    "status",
)
QUEUE_DEPTH = _gauge("moderation_queue_depth", "Jobs waiting in a queue", "queue")
QUEUE_OLDEST = _gauge(
    "moderation_queue_oldest_job_age_seconds",
    "Age of the job at the head of a queue (0 when empty)",
    "queue",
)
WORKERS = _gauge(
    "moderation_workers",
    "Workers with a live heartbeat, by kind (scoring, webhooks) and state (busy, idle, "
    "starting, failed, suspended)",
    "kind",
    "state",
)
WORKERS_BUSY = _gauge("moderation_workers_busy", "Workers running a job now", "kind")
PENDING = _gauge("moderation_comments_pending", "Comments waiting for a decision", "site")
PENDING_OLDEST = _gauge(
    "moderation_comment_pending_oldest_age_seconds",
    "Age of the oldest comment waiting for a decision (0 when none)",
    "site",
)
ESCALATIONS = _gauge(
    "moderation_escalations_waiting", "Escalated comments waiting for a moderator", "site"
)
ESCALATION_OLDEST = _gauge(
    "moderation_escalation_oldest_age_seconds",
    "Age of the oldest escalated comment waiting for a moderator (0 when none)",
    "site",
)
WEBHOOK_BACKLOG = _gauge(
    "moderation_webhook_backlog",
    "Webhook deliveries not delivered: pending (due, held or retrying) or failed (gave up)",
    "site",
    "status",
)

METRICS: tuple[Metric, ...] = (
    COMMENTS_RECEIVED,
    DECISIONS,
    DECISION_LATENCY,
    SCORER_BATCH,
    SCORER_DURATION,
    SCORING_FAILURES,
    WEBHOOK_DELIVERIES,
    RULES_RELOADS,
    HTTP_REQUESTS,
    QUEUE_DEPTH,
    QUEUE_OLDEST,
    WORKERS,
    WORKERS_BUSY,
    PENDING,
    PENDING_OLDEST,
    ESCALATIONS,
    ESCALATION_OLDEST,
    WEBHOOK_BACKLOG,
)
RECORDED = tuple(m for m in METRICS if m.kind != "gauge")
"""The metrics processes count and flush to Redis; the gauges are measured at scrape time."""


def _field(metric: Metric, labels: Mapping[str, str]) -> str:
    if set(labels) != set(metric.labels):
        raise ValueError(f"{metric.name} takes labels {metric.labels}, got {sorted(labels)}")
    return json.dumps([str(labels[name]) for name in metric.labels], separators=(",", ":"))


class Recorder:
    """This process's counts since its last flush; thread-safe, no I/O."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], float] = defaultdict(float)

    def inc(self, metric: Metric, amount: float = 1.0, **labels: str) -> None:
        if metric.kind != "counter":
            raise ValueError(f"{metric.name} is a {metric.kind}, not a counter")
        key = (metric.name, _field(metric, labels))
        with self._lock:
            self._counts[key] += amount

    def observe(self, metric: Metric, value: float, **labels: str) -> None:
        if metric.kind != "histogram":
            raise ValueError(f"{metric.name} is a {metric.kind}, not a histogram")
        field = _field(metric, labels)
        bucket = bisect.bisect_left(metric.buckets, value)  # len(buckets): only +Inf
        with self._lock:
            self._counts[(metric.name, f"{field}|{bucket}")] += 1
            self._counts[(metric.name, f"{field}|sum")] += value
            self._counts[(metric.name, f"{field}|count")] += 1

    def take(self) -> dict[tuple[str, str], float]:
        with self._lock:
            counts, self._counts = self._counts, defaultdict(float)
        return counts

    def put_back(self, counts: Mapping[tuple[str, str], float]) -> None:
        with self._lock:
            for key, value in counts.items():
                self._counts[key] += value


RECORDER = Recorder()
"""The process's recorder (metrics are per process by nature, as prometheus_client's own
registry is); ``flush`` sends it to Redis."""

inc = RECORDER.inc
observe = RECORDER.observe


def metrics_key(queue: str, name: str) -> str:
    return f"moderation:metrics:{queue}:{name}"


def flush(conn: redis.Redis, queue: str, recorder: Recorder = RECORDER) -> int:
    """Add the recorder's counts to Redis; on a Redis error they are kept for the next
    flush (and the error raised). Returns how many fields were sent."""
    counts = recorder.take()
    if not counts:
        return 0
    try:
        with conn.pipeline(transaction=False) as pipe:
            for (name, field), value in counts.items():
                pipe.hincrbyfloat(metrics_key(queue, name), field, value)
            pipe.execute()
    except redis.RedisError:
        recorder.put_back(counts)
        raise
    return len(counts)


class Flusher(threading.Thread):
    """Flushes the process's recorder every ``interval`` seconds, and once more on ``stop``."""

    def __init__(self, conn: redis.Redis, queue: str, interval: float = 1.0) -> None:
        super().__init__(name="moderation-metrics", daemon=True)
        self.conn = conn
        self.queue = queue
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            self._flush()

    def _flush(self) -> None:
        try:
            flush(self.conn, self.queue)
        except redis.RedisError as exc:
            log.warning("metrics not flushed (kept for the next try): %s", exc)

    def stop(self) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout=5)
        self._flush()


# --- the scrape ---------------------------------------------------------------------------

Gauges = Callable[[], Iterable[tuple[Metric, Mapping[str, str], float]]]
"""Measures the gauges at scrape time: (metric, labels, value) triples."""


def _decode(raw: Mapping[Any, Any]) -> dict[str, float]:
    return {(k.decode() if isinstance(k, bytes) else str(k)): float(v) for k, v in raw.items()}


def _labels(field: str) -> list[str]:
    values: list[str] = json.loads(field)
    return values


class RedisCollector(Collector):
    """The deployment's counters and histograms as Redis holds them, and the gauges; with
    ``site``, only that site's series of the metrics labelled by site."""

    def __init__(
        self,
        conn: redis.Redis,
        queue: str,
        gauges: Gauges | None = None,
        site: str | None = None,
    ) -> None:
        self.conn = conn
        self.queue = queue
        self.gauges = gauges
        self.site = site

    def _shown(self, metric: Metric, values: Sequence[str]) -> bool:
        if self.site is None or "site" not in metric.labels:
            return True
        return values[metric.labels.index("site")] == self.site

    def collect(self) -> Iterator[PromMetric]:
        with self.conn.pipeline(transaction=False) as pipe:
            for metric in RECORDED:
                pipe.hgetall(metrics_key(self.queue, metric.name))
            stored = [_decode(raw) for raw in pipe.execute()]
        for metric, fields in zip(RECORDED, stored, strict=True):
            if metric.kind == "counter":
                yield self._counter(metric, fields)
            else:
                yield self._histogram(metric, fields)
        if self.gauges is not None:
            yield from self._gauges(self.gauges())

    def _counter(self, metric: Metric, fields: Mapping[str, float]) -> PromMetric:
        family = CounterMetricFamily(
            metric.name.removesuffix("_total"), metric.help, labels=metric.labels
        )
        for field, value in sorted(fields.items()):
            if self._shown(metric, labels := _labels(field)):
                family.add_metric(labels, value)
        return family

    def _histogram(self, metric: Metric, fields: Mapping[str, float]) -> PromMetric:
        family = HistogramMetricFamily(metric.name, metric.help, labels=metric.labels)
        series: dict[str, dict[str, float]] = defaultdict(dict)
        for field, value in fields.items():
            labels, _, part = field.rpartition("|")
            series[labels][part] = value
        for labels, parts in sorted(series.items()):
            values = _labels(labels)
            if not self._shown(metric, values):
                continue
            running = 0.0
            buckets: list[tuple[str, float]] = []
            for i, bound in enumerate((*metric.buckets, float("inf"))):
                running += parts.get(str(i), 0.0)
                buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
            family.add_metric(values, buckets, parts.get("sum", 0.0))
        return family

    def _gauges(
        self, values: Iterable[tuple[Metric, Mapping[str, str], float]]
    ) -> Iterator[PromMetric]:
        families: dict[str, GaugeMetricFamily] = {}
        for metric in METRICS:
            if metric.kind == "gauge":
                families[metric.name] = GaugeMetricFamily(
                    metric.name, metric.help, labels=metric.labels
                )
        for metric, labels, value in values:
            shown = [str(labels[n]) for n in metric.labels]
            if self._shown(metric, shown):
                families[metric.name].add_metric(shown, value)
        yield from families.values()


def exposition(
    conn: redis.Redis, queue: str, gauges: Gauges | None = None, *, site: str | None = None
) -> bytes:
    """The text a Prometheus scrape reads (``site``: only that site's series of the metrics
    labelled by site)."""
    from prometheus_client import generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(conn, queue, gauges, site))
    return generate_latest(registry)
