"""The measurements, each over HTTP only, as a publisher would see them.

- ingest: comments accepted per second by the API alone (no worker running);
- throughput: decisions per second from the first submit to the last decision, through
  ``POST /v1/comments/batch`` or through concurrent single ``POST /v1/comments``;
- latency: submit-to-decision (the decision's ``decided_at`` minus the client's clock just
  before the POST) for single comments sent open-loop on a fixed schedule, so a slow
  answer never slows the offered rate; and the same while a bulk import is being decided.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from benchmarks.client import BenchmarkError, Publisher
from benchmarks.corpus import Comment
from benchmarks.tracker import DecisionTracker


@dataclass
class Rate:
    comments: int
    seconds: float
    per_s: float


@dataclass
class Throughput:
    comments: int
    seconds: float
    decisions_per_s: float
    submit_seconds: float
    """How long the submits themselves took (the rest is the queue draining)."""
    decided_offsets: list[float] = field(repr=False)
    """Seconds from the first submit to each decision, sorted (for the figure)."""


@dataclass
class Latency:
    comments: int
    decided: int
    offered_per_s: float
    sent_per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    ack_p50_ms: float
    ack_p99_ms: float
    """How long the POST itself took (the API's answer, not the decision)."""
    late_sends: int
    """Sends that left more than 100 ms after their slot (the client could not keep up)."""
    samples_ms: list[float] = field(repr=False)


@dataclass
class BulkLatency:
    bulk_comments: int
    bulk_accept_seconds: float
    bulk_decided_before_last_single: int
    """Bulk comments decided by the time the last single comment was: the fewer, the
    better the live lane works."""
    singles: Latency


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 2) if seconds > 0 else 0.0


def _chunks(items: Sequence[Comment], size: int) -> list[Sequence[Comment]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _quantile_ms(samples: list[float], q: float, missing: int) -> float | None:
    """The q-quantile in ms, linear between ranks. Undecided comments rank above every
    decided one, so a quantile that falls among them is None (beyond the timeout)."""
    values = sorted(samples)
    rank = q * (len(values) + missing - 1)
    lo, hi = int(np.floor(rank)), int(np.ceil(rank))
    if not values or hi >= len(values):
        return None
    value = values[lo] + (values[hi] - values[lo]) * (rank - lo)
    return round(value * 1000, 1)


def ingest_batch(pub: Publisher, comments: Sequence[Comment], batch_size: int) -> Rate:
    start = time.perf_counter()
    for chunk in _chunks(comments, batch_size):
        pub.submit_batch(chunk)
    seconds = time.perf_counter() - start
    return Rate(len(comments), round(seconds, 3), _rate(len(comments), seconds))


def _submit_concurrently(
    pub: Publisher, comments: Sequence[Comment], clients: int, tracker: DecisionTracker | None
) -> None:
    def send(c: Comment) -> None:
        sent = pub.submit(c)
        if tracker is not None:
            tracker.add(c.id, sent)

    with ThreadPoolExecutor(clients, thread_name_prefix="client") as pool:
        for future in [pool.submit(send, c) for c in comments]:
            future.result()


def ingest_single(pub: Publisher, comments: Sequence[Comment], clients: int) -> Rate:
    start = time.perf_counter()
    _submit_concurrently(pub, comments, clients, None)
    seconds = time.perf_counter() - start
    return Rate(len(comments), round(seconds, 3), _rate(len(comments), seconds))


def _throughput(tracker: DecisionTracker, first: float, submit_s: float) -> Throughput:
    last = max(tracker.decided.values())
    seconds = last - first
    offsets = sorted(round(t - first, 3) for t in tracker.decided.values())
    n = len(tracker.decided)
    return Throughput(n, round(seconds, 3), _rate(n, seconds), round(submit_s, 3), offsets)


def throughput_batch(
    pub: Publisher, comments: Sequence[Comment], batch_size: int, timeout: float
) -> Throughput:
    tracker = DecisionTracker(pub)
    first = time.time()
    for chunk in _chunks(comments, batch_size):
        sent = pub.submit_batch(chunk)
        for c in chunk:
            tracker.add(c.id, sent)
    submit_s = time.time() - first
    tracker.wait(timeout)
    return _throughput(tracker, first, submit_s)


def throughput_single(
    pub: Publisher, comments: Sequence[Comment], clients: int, timeout: float
) -> Throughput:
    tracker = DecisionTracker(pub)
    first = time.time()
    _submit_concurrently(pub, comments, clients, tracker)
    submit_s = time.time() - first
    tracker.wait(timeout)
    return _throughput(tracker, first, submit_s)


def _open_loop(
    pub: Publisher, comments: Sequence[Comment], rate: float, tracker: DecisionTracker
) -> tuple[list[float], int, float]:
    """Send comment i at start + i/rate from a pool of senders; returns the POSTs' own
    durations, how many left late, and the achieved send rate."""
    acks: list[float] = []
    late = 0
    lock = threading.Lock()
    start = time.time() + 0.05

    def send(c: Comment, slot: float) -> None:
        nonlocal late
        sent = pub.submit(c)
        done = time.time()
        tracker.add(c.id, sent)
        with lock:
            acks.append(done - sent)
            late += sent - slot > 0.1

    futures: list[Future[None]] = []
    with ThreadPoolExecutor(32, thread_name_prefix="open-loop") as pool:
        for i, c in enumerate(comments):
            slot = start + i / rate
            time.sleep(max(0.0, slot - time.time()))
            futures.append(pool.submit(send, c, slot))
        for f in futures:
            f.result()
    span = max(tracker.sent.values()) - min(tracker.sent.values()) if len(comments) > 1 else 0
    return acks, late, _rate(len(comments) - 1, span) if span else 0.0


def _latency(
    tracker: DecisionTracker, rate: float, acks: list[float], late: int, sent_rate: float
) -> Latency:
    samples = tracker.latencies()
    missing = len(tracker.sent) - len(samples)

    def q(p: float) -> float | None:
        return _quantile_ms(samples, p, missing)

    ack = np.array(acks) * 1000
    return Latency(
        comments=len(tracker.sent),
        decided=len(samples),
        offered_per_s=round(rate, 2),
        sent_per_s=sent_rate,
        p50_ms=q(0.5),
        p95_ms=q(0.95),
        p99_ms=q(0.99),
        max_ms=q(1.0),
        ack_p50_ms=round(float(np.quantile(ack, 0.5)), 1),
        ack_p99_ms=round(float(np.quantile(ack, 0.99)), 1),
        late_sends=late,
        samples_ms=[round(s * 1000, 1) for s in samples],
    )


def open_loop_latency(
    pub: Publisher, comments: Sequence[Comment], rate: float, timeout: float
) -> Latency:
    if rate <= 0:
        raise BenchmarkError("open-loop latency needs a positive rate")
    tracker = DecisionTracker(pub, lookahead=3, interval=0.1).start()
    acks, late, sent_rate = _open_loop(pub, comments, rate, tracker)
    tracker.wait(timeout, required=False)
    return _latency(tracker, rate, acks, late, sent_rate)


def latency_during_bulk(
    pub: Publisher,
    bulk: Sequence[Comment],
    singles: Sequence[Comment],
    rate: float,
    timeout: float,
) -> BulkLatency:
    """One batch of ``bulk`` comments, then ``singles`` sent open-loop at ``rate`` while it
    is being decided. Comments still pending after ``timeout`` count as slower than any."""
    bulk_tracker = DecisionTracker(pub, lookahead=10)
    start = time.perf_counter()
    sent = pub.submit_batch(bulk)
    accept_s = time.perf_counter() - start
    for c in bulk:
        bulk_tracker.add(c.id, sent)
    tracker = DecisionTracker(pub, lookahead=3, interval=0.1).start()
    acks, late, sent_rate = _open_loop(pub, singles, rate, tracker)
    tracker.wait(timeout, required=False)
    complete = tracker.decided and len(tracker.decided) == len(tracker.sent)
    last_single = max(tracker.decided.values()) if complete else float("inf")
    bulk_tracker.poll_once()  # how far the import got; the rest is not waited for
    before = sum(1 for t in bulk_tracker.decided.values() if t <= last_single)
    return BulkLatency(
        bulk_comments=len(bulk),
        bulk_accept_seconds=round(accept_s, 3),
        bulk_decided_before_last_single=before,
        singles=_latency(tracker, rate, acks, late, sent_rate),
    )


def warm_up(
    pub: Publisher, articles: Sequence[Comment], singles: Sequence[Comment], timeout: float
) -> None:
    """Decide a comment under every article first (each article's features are computed
    once), then a few single comments at once so every worker has made its first model
    pass before anything is timed."""
    tracker = DecisionTracker(pub)
    sent = pub.submit_batch(articles)
    for c in articles:
        tracker.add(c.id, sent)
    tracker.wait(timeout)
    tracker = DecisionTracker(pub)
    _submit_concurrently(pub, singles, len(singles), tracker)
    tracker.wait(timeout)
