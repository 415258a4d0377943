"""The Perspective-compatible API's speed, as Coral Talk and Discourse meet it.

Real comments (``benchmarks.corpus``) are sent to ``POST /v1alpha1/comments:analyze`` of a
real API process (``benchmarks.stack``, no worker: the endpoint scores in the API and never
waits behind the moderation queue), in the body Coral Talk sends::

    {"comment": {"text": ...}, "doNotStore": true,
     "requestedAttributes": {"TOXICITY": {}}, "languages": ["en"]}

with the key in ``?key=``, as every Perspective client sends it. Measured:

- ``single``: one client, one request at a time: latency p50/p95/p99/max, and the share
  answered within Coral's timeout (800 ms) and Discourse's (3 s);
- ``spans``: the same with ``spanAnnotations: true`` (spans are computed for the request);
- ``concurrent``: N clients sending back to back (closed loop), for each N: requests per
  second and the latency each request saw.

Every answer must be a 200 with a probability for each requested attribute, else the run
fails (the figures would be wrong). Only HTTP is used, like the rest of the benchmark.

    .venv/bin/python -m benchmarks.perspective [--requests N] [--clients 1,4,16] [--json PATH]

From the suite: ``run_perspective(corpus, workdir, dbs, PerspectiveOptions(...), log)``
returns a JSON-ready dict.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.args import counts
from benchmarks.client import BenchmarkError
from benchmarks.corpus import SHARED_DATA, Corpus, load_corpus
from benchmarks.database import Databases
from benchmarks.memory import RssSampler
from benchmarks.stack import Stack

ANALYZE_PATH = "/v1alpha1/comments:analyze"

CALLER_TIMEOUTS_MS = {"coral": 800.0, "discourse": 3000.0}
"""What the callers give Perspective: Coral Talk's ``PERSPECTIVE_TIMEOUT`` default and the
Discourse plugin's read timeout."""

READY_TIMEOUT = 300.0
"""The API loads the scorers in the background after it starts; a busy machine is slow."""


@dataclass
class PerspectiveOptions:
    requests: int = 200
    """Single requests, one at a time."""
    span_requests: int = 20
    """Single requests with spanAnnotations."""
    clients: list[int] = field(default_factory=lambda: [1, 4, 16])
    concurrent_requests: int = 200
    """Requests sent by each concurrency level (shared by its clients)."""
    warmup: int = 10
    attributes: list[str] = field(default_factory=lambda: ["TOXICITY"])
    request_timeout: float = 60.0

    @classmethod
    def quick_smoke(cls, **overrides: Any) -> PerspectiveOptions:
        base: dict[str, Any] = dict(
            requests=10, span_requests=2, clients=[1, 2], concurrent_requests=8, warmup=2
        )
        return cls(**{**base, **overrides})


@dataclass
class Latency:
    requests: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    within_ms: dict[str, float]
    """Share of requests answered within each caller's timeout."""


@dataclass
class Concurrent:
    clients: int
    requests: int
    seconds: float
    per_s: float
    latency: Latency


def _latency(samples_s: Sequence[float]) -> Latency:
    ms = np.array(samples_s, dtype=float) * 1000
    if ms.size == 0:
        raise BenchmarkError("no request was timed")

    def q(p: float) -> float:
        return round(float(np.quantile(ms, p)), 1)

    return Latency(
        requests=int(ms.size),
        p50_ms=q(0.5),
        p95_ms=q(0.95),
        p99_ms=q(0.99),
        max_ms=round(float(ms.max()), 1),
        mean_ms=round(float(ms.mean()), 1),
        within_ms={
            name: round(float((ms <= limit).mean()), 4)
            for name, limit in CALLER_TIMEOUTS_MS.items()
        },
    )


class Analyzer:
    """An HTTP client of ``comments:analyze`` with the key in the query string; one instance
    is shared by client threads."""

    def __init__(self, base_url: str, api_key: str, options: PerspectiveOptions):
        connections = max([1, *options.clients])
        self.attributes = list(options.attributes)
        self.http = httpx.Client(
            base_url=base_url,
            params={"key": api_key},
            timeout=options.request_timeout,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    def close(self) -> None:
        self.http.close()

    def body(self, text: str, *, spans: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "comment": {"text": text},
            "doNotStore": True,
            "requestedAttributes": {name: {} for name in self.attributes},
            "languages": ["en"],
        }
        if spans:
            body["spanAnnotations"] = True
        return body

    def post(self, text: str, *, spans: bool = False) -> httpx.Response:
        return self.http.post(ANALYZE_PATH, json=self.body(text, spans=spans))

    def analyze(self, text: str, *, spans: bool = False) -> float:
        """One request; returns its duration in seconds. Anything but a full answer fails."""
        start = time.perf_counter()
        response = self.post(text, spans=spans)
        elapsed = time.perf_counter() - start
        self.check(response)
        return elapsed

    def check(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            raise BenchmarkError(
                f"POST {ANALYZE_PATH} answered {response.status_code}: {response.text[:500]}"
            )
        scores = response.json().get("attributeScores", {})
        for name in self.attributes:
            value = scores.get(name, {}).get("summaryScore", {}).get("value")
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise BenchmarkError(f"{name}: no probability in {response.text[:500]}")

    def wait_ready(self, text: str, timeout: float = READY_TIMEOUT) -> float:
        """Send ``text`` until it is scored (503 while the scorers load); seconds waited."""
        start = time.perf_counter()
        deadline = start + timeout
        while True:
            try:
                response = self.post(text)
            except httpx.HTTPError as exc:
                response = None
                problem = f"{type(exc).__name__}: {exc}"
            if response is not None and response.status_code != 503:
                self.check(response)
                return time.perf_counter() - start
            if response is not None:
                problem = response.text[:300]
            if time.perf_counter() > deadline:
                raise BenchmarkError(
                    f"the analyzer was not ready within {timeout:.0f} s: {problem}"
                )
            time.sleep(0.5)


def _texts(corpus: Corpus, n: int, prefix: str) -> list[str]:
    return [c.text for c in corpus.stream(prefix).take("analyze", n)]


def single_latency(analyzer: Analyzer, texts: Sequence[str], *, spans: bool = False) -> Latency:
    return _latency([analyzer.analyze(t, spans=spans) for t in texts])


def concurrent_throughput(analyzer: Analyzer, texts: Sequence[str], clients: int) -> Concurrent:
    """``clients`` threads take the next text as soon as their last answer came (closed loop)
    until all ``texts`` are sent."""
    if clients < 1:
        raise BenchmarkError(f"clients must be >= 1, got {clients}")
    pending: Iterator[str] = iter(texts)
    lock = threading.Lock()
    samples: list[float] = []
    errors: list[BaseException] = []

    def client() -> None:
        while True:
            with lock:
                if errors:
                    return
                text = next(pending, None)
            if text is None:
                return
            try:
                elapsed = analyzer.analyze(text)
            except BaseException as exc:  # noqa: BLE001 - reported below, run stops
                with lock:
                    errors.append(exc)
                return
            with lock:
                samples.append(elapsed)

    threads = [threading.Thread(target=client, name=f"analyze-{i}") for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        raise BenchmarkError(f"{clients} clients: {errors[0]}") from errors[0]
    return Concurrent(
        clients=clients,
        requests=len(samples),
        seconds=round(seconds, 3),
        per_s=round(len(samples) / seconds, 2),
        latency=_latency(samples),
    )


def run_perspective(
    corpus: Corpus,
    workdir: Path,
    dbs: Databases,
    options: PerspectiveOptions,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Start an API (no worker) on a fresh database, wait for its analyzer, measure; the
    result is JSON-ready."""
    texts = _texts(corpus, options.warmup + options.requests + options.span_requests, "p-single")
    warm, rest = texts[: options.warmup], texts[options.warmup :]
    single_texts, span_texts = rest[: options.requests], rest[options.requests :]
    result: dict[str, Any] = {
        "benchmark": "perspective",
        "endpoint": f"POST {ANALYZE_PATH}",
        "request": "Coral Talk's analyze body (doNotStore, languages [en]), key in ?key=",
        "options": asdict(options),
        "caller_timeouts_ms": CALLER_TIMEOUTS_MS,
    }
    sampler = RssSampler()
    with Stack("perspective", workdir, dbs.fresh("perspective"), workers=0) as stack:
        log("perspective: starting the API (no worker)")
        start = time.perf_counter()
        stack.start(workers=False)
        assert stack.api is not None
        sampler.watch("api", stack.api.pid)
        sampler.start()
        analyzer = Analyzer(stack.url, stack.api_key, options)
        try:
            analyzer.wait_ready(warm[0] if warm else single_texts[0])
            result["startup_seconds"] = round(time.perf_counter() - start, 2)
            for text in warm:
                analyzer.analyze(text)
            log(f"perspective: {len(single_texts)} single requests, one at a time")
            single = single_latency(analyzer, single_texts)
            log(f"perspective:   p50 {single.p50_ms} ms, p99 {single.p99_ms} ms")
            result["single"] = asdict(single)
            if span_texts:
                log(f"perspective: {len(span_texts)} single requests with spanAnnotations")
                spans = single_latency(analyzer, span_texts, spans=True)
                log(f"perspective:   p50 {spans.p50_ms} ms, p99 {spans.p99_ms} ms")
                result["spans"] = asdict(spans)
            result["concurrent"] = []
            for clients in options.clients:
                batch = _texts(corpus, options.concurrent_requests, f"p-c{clients}")
                log(f"perspective: {len(batch)} requests from {clients} concurrent client(s)")
                run = concurrent_throughput(analyzer, batch, clients)
                log(f"perspective:   {run.per_s}/s, p99 {run.latency.p99_ms} ms")
                result["concurrent"].append(asdict(run))
        finally:
            analyzer.close()
            result["rss_mb"] = {"api": sampler.stop().get("api", 0.0)}
    return result


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.perspective", description=__doc__.split("\n")[0]
    )
    p.add_argument("--requests", type=int, help="single requests (default 200)")
    p.add_argument("--span-requests", type=int, help="single requests with spans (default 20)")
    p.add_argument("--clients", type=counts("1,4,16"), help="concurrency levels (default 1,4,16)")
    p.add_argument("--concurrent-requests", type=int, help="requests per level (default 200)")
    p.add_argument("--quick", action="store_true", help="a small smoke run")
    p.add_argument("--database", default="sqlite", help="'sqlite' or a PostgreSQL server URL")
    p.add_argument("--data-dir", type=Path, default=SHARED_DATA, help="real comments")
    p.add_argument("--json", type=Path, help="write the result here (default: stdout)")
    args = p.parse_args(argv)
    given = {
        "requests": args.requests,
        "span_requests": args.span_requests,
        "clients": args.clients,
        "concurrent_requests": args.concurrent_requests,
    }
    given = {k: v for k, v in given.items() if v is not None}
    options = PerspectiveOptions.quick_smoke(**given) if args.quick else PerspectiveOptions(**given)
    started = time.monotonic()

    def log(line: str) -> None:
        print(f"[bench {time.monotonic() - started:6.1f}s] {line}", file=sys.stderr, flush=True)

    corpus = load_corpus(args.data_dir, articles=5)
    workdir = Path(tempfile.mkdtemp(prefix="moderation-bench-perspective-"))
    dbs = Databases(args.database, workdir)
    try:
        result = run_perspective(corpus, workdir, dbs, options, log)
    except BenchmarkError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        dbs.drop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    result["corpus"] = corpus.describe()
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
        print(f"JSON: {args.json}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
