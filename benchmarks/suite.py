"""One benchmark run: the raw limit, the API alone, then the whole stack with each worker
count, on the same texts; returns the figures as a JSON-ready dict."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import measure
from benchmarks.client import Publisher
from benchmarks.corpus import SHARED_DATA, Comment, Corpus, load_corpus
from benchmarks.cpu import CpuMeter
from benchmarks.database import Databases
from benchmarks.inprocess import scorer_rate
from benchmarks.memory import RssSampler
from benchmarks.perspective import PerspectiveOptions, run_perspective
from benchmarks.raw import raw_embedding_rate
from benchmarks.stack import Stack

TARGETS = {
    "pipeline_to_raw": 0.8,
    "p99_ms_at_half_capacity": 250.0,
    "ingest_batch_per_s": 2000.0,
    "worker_rss_mb": 800.0,
}
"""Issue #11's targets on a 2-core machine (each the median of 3 runs there)."""


@dataclass
class Options:
    comments: int = 400
    workers: list[int] = field(default_factory=lambda: [1, 2])
    database: str = "sqlite"
    quick: bool = False
    batch_size: int = 500
    clients: int = 8
    latency_comments: int = 100
    bulk_comments: int = 500
    bulk_singles: int = 20
    bulk_timeout: float = 300.0
    ingest_comments: int = 1000
    articles: int = 20
    data_dir: Path = SHARED_DATA
    keep: bool = False
    rounds: int = 1
    """Rounds of raw, ingest and pipeline figures; the targets are judged on their medians."""

    @classmethod
    def quick_smoke(cls, **overrides: Any) -> Options:
        """Small enough for ``make test``: every figure, one worker count."""
        base = dict(
            comments=20, workers=[1], quick=True, latency_comments=8, bulk_comments=16,
            bulk_singles=4, bulk_timeout=90.0, ingest_comments=48, articles=3, batch_size=100,
            clients=4,
        )  # fmt: skip
        return cls(**{**base, **overrides})


@dataclass
class Plan:
    """What one stack is sent, phase by phase; the same texts for every worker count."""

    warm_articles: list[Comment]
    warm_singles: list[Comment]
    batch: list[Comment]
    single: list[Comment]
    latency: list[Comment]
    bulk: list[Comment]
    bulk_singles: list[Comment]

    @classmethod
    def draw(cls, corpus: Corpus, prefix: str, options: Options, workers: int) -> Plan:
        s = corpus.stream(prefix)
        return cls(
            warm_articles=s.one_per_article("warm"),
            warm_singles=s.take("warm1", 2 * max(workers, 1)),
            batch=s.take("batch", options.comments),
            single=s.take("single", options.comments),
            latency=s.take("latency", options.latency_comments),
            bulk=s.take("bulk", options.bulk_comments, long=True),
            bulk_singles=s.take("live", options.bulk_singles),
        )


def _decision_timeout(n: int) -> float:
    """Generous: 2 s a comment (0.5 decisions/s), plus a minute."""
    return 60.0 + 2.0 * n


def run_suite(options: Options, log: Callable[[str], None] = print) -> dict[str, Any]:
    corpus = load_corpus(options.data_dir, articles=options.articles)
    workdir = Path(tempfile.mkdtemp(prefix="moderation-bench-"))
    dbs = Databases(options.database, workdir)
    result: dict[str, Any] = {
        "benchmark": "pipeline",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "options": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in asdict(options).items()
            if k not in {"keep"}
        },
        "database": dbs.kind,
        "corpus": corpus.describe(),
        "targets": TARGETS,
    }
    log(f"corpus: {corpus.source}, {len(corpus.articles)} articles; work dir {workdir}")
    try:
        rounds = []
        for number in range(1, options.rounds + 1):
            if options.rounds > 1:
                log(f"round {number} of {options.rounds}")
            rounds.append(_round(corpus, options, workdir, dbs, f"r{number}-", log))
        # The last round's figures in full (the table and the figure show them) ...
        result.update(rounds[-1])
        if options.rounds > 1:
            # ... and each target figure of every round, with its median.
            result["rounds"] = round_figures(rounds)
        perspective = PerspectiveOptions.quick_smoke() if options.quick else PerspectiveOptions()
        result["perspective"] = run_perspective(corpus, workdir, dbs, perspective, log)
    finally:
        dbs.drop_all()
        if options.keep:
            log(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def _round(
    corpus: Corpus,
    options: Options,
    workdir: Path,
    dbs: Databases,
    prefix: str,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The raw limit, the API alone and the pipeline with each worker count, once."""
    comments = Plan.draw(corpus, "raw", options, 1).batch
    texts = [c.text for c in comments]
    log(f"raw: one MiniLM pass over {len(texts)} texts")
    out: dict[str, Any] = {"raw": asdict(raw_embedding_rate(texts))}
    log(f"scorers alone: the same {len(texts)} comments through ScorerSet.score, in jobs of 64")
    out["scorers"] = asdict(scorer_rate(comments, corpus.articles))
    out["ingest"] = _ingest(corpus, options, workdir, dbs, log, prefix=prefix)
    out["runs"] = [
        _pipeline(corpus, options, workdir, dbs, w, first=i == 0, log=log, prefix=prefix)
        for i, w in enumerate(options.workers)
    ]
    out["ratios"] = ratios(out)
    return out


ROUND_FIGURES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "pipeline_batch_to_raw": lambda r: r["ratios"]["pipeline_batch_to_raw"],
    "pipeline_single_to_raw": lambda r: r["ratios"]["pipeline_single_to_raw"],
    "p99_ms_at_half_capacity": lambda r: (r["runs"][0].get("latency") or {}).get("p99_ms"),
    "ingest_batch_per_s": lambda r: r["ingest"]["batch"]["per_s"],
    "worker_rss_mb": lambda r: max(
        (w for run in r["runs"] for w in run["rss_mb"]["workers"]), default=None
    ),
    "scale_out_batch_2_to_1": lambda r: r["ratios"]["scale_out_batch_2_to_1"],
    "scale_out_single_2_to_1": lambda r: r["ratios"]["scale_out_single_2_to_1"],
}
"""The figures whose median over rounds judges a target (and the scale-out ratios)."""


def round_figures(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"count": n, "values": {figure: [per round]}, "median": {figure: median}}``."""
    values = {name: [get(r) for r in rounds] for name, get in ROUND_FIGURES.items()}
    medians = {
        name: (statistics.median(v) if all(x is not None for x in v) else None)
        for name, v in values.items()
    }
    return {"count": len(rounds), "values": values, "median": medians}


def _put_articles(pub: Publisher, corpus: Corpus) -> None:
    for article in corpus.articles:
        pub.put_article(article)


def _ingest(
    corpus: Corpus,
    options: Options,
    workdir: Path,
    dbs: Databases,
    log: Callable[[str], None],
    *,
    prefix: str = "",
) -> dict[str, Any]:
    """The API alone: no worker runs, so nothing competes with it."""
    s = corpus.stream("ingest")
    batch = s.take("batch", options.ingest_comments)
    single = s.take("single", options.ingest_comments)
    log(f"ingest: API alone, {len(batch)} comments in batches and {len(single)} one by one")
    with (
        Stack(f"{prefix}ingest", workdir, dbs.fresh(f"{prefix}ingest"), workers=0) as stack,
        Publisher(stack.url, stack.api_key) as pub,
    ):
        stack.start(workers=False)
        _put_articles(pub, corpus)
        measure.ingest_batch(pub, s.take("warm", min(50, options.batch_size)), options.batch_size)
        by_batch = measure.ingest_batch(pub, batch, options.batch_size)
        one_by_one = measure.ingest_single(pub, single, options.clients)
    return {
        "batch": asdict(by_batch),
        "single": asdict(one_by_one),
        "batch_size": options.batch_size,
        "clients": options.clients,
    }


def _pipeline(
    corpus: Corpus,
    options: Options,
    workdir: Path,
    dbs: Databases,
    workers: int,
    *,
    first: bool,
    log: Callable[[str], None],
    prefix: str = "",
) -> dict[str, Any]:
    label = f"w{workers}"
    plan = Plan.draw(corpus, label, options, workers)  # the same texts in every round
    name = f"{prefix}{label}"
    run: dict[str, Any] = {"workers": workers}
    sampler = RssSampler()
    with (
        Stack(name, workdir, dbs.fresh(name), workers=workers) as stack,
        Publisher(stack.url, stack.api_key) as pub,
    ):
        log(f"{label}: starting the API and {workers} worker(s)")
        start = time.perf_counter()
        stack.start()
        run["startup_seconds"] = round(time.perf_counter() - start, 2)
        for process, pid in stack.pids().items():
            sampler.watch(process, pid)
        sampler.start()
        _put_articles(pub, corpus)
        measure.warm_up(pub, plan.warm_articles, plan.warm_singles, _decision_timeout(50))
        n = options.comments
        log(f"{label}: throughput, {n} comments in batches of {options.batch_size}")
        cpu = CpuMeter(stack.pids()).start()
        batch = measure.throughput_batch(pub, plan.batch, options.batch_size, _decision_timeout(n))
        run["cpu_cores"] = {"batch": cpu.stop()}
        # The decisions are out; their spans follow on the lowest queue. Every phase starts
        # with the queues empty, and the capacity counts the spans too.
        batch_spans_s = stack.wait_idle(_decision_timeout(n))
        log(f"{label}:   {batch.decisions_per_s} decisions/s; now {n} single posts")
        cpu = CpuMeter(stack.pids()).start()
        single = measure.throughput_single(pub, plan.single, options.clients, _decision_timeout(n))
        run["cpu_cores"]["single"] = cpu.stop()
        single_spans_s = stack.wait_idle(_decision_timeout(n))
        log(f"{label}:   {single.decisions_per_s} decisions/s")
        run["throughput"] = {"batch": asdict(batch), "single": asdict(single)}
        run["with_spans"] = {
            "batch": _with_spans(batch, batch_spans_s),
            "single": _with_spans(single, single_spans_s),
        }
        if first:
            # Capacity: what a worker sustains, spans included (the decisions alone come
            # faster while the spans wait, but the spans are work all the same).
            rate = 0.5 * run["with_spans"]["single"]["comments_per_s"]
            m = len(plan.latency)
            log(f"{label}: latency, {m} single comments at {rate:.2f}/s (50% of capacity)")
            lat = measure.open_loop_latency(pub, plan.latency, rate, _decision_timeout(m))
            log(f"{label}:   p50 {lat.p50_ms} ms, p99 {lat.p99_ms} ms")
            run["latency"] = asdict(lat)
            stack.wait_idle(_decision_timeout(m))
            log(
                f"{label}: a bulk import of {len(plan.bulk)} long comments, with "
                f"{len(plan.bulk_singles)} single comments at {rate:.2f}/s meanwhile"
            )
            bulk = measure.latency_during_bulk(
                pub, plan.bulk, plan.bulk_singles, rate, options.bulk_timeout
            )
            log(f"{label}:   p50 {bulk.singles.p50_ms} ms, p99 {bulk.singles.p99_ms} ms")
            run["bulk"] = asdict(bulk)
        peaks = sampler.stop()
    run["rss_mb"] = {
        "api": peaks.get("api", 0.0),
        "workers": [peaks[k] for k in sorted(peaks) if k.startswith("worker-")],
    }
    return run


def _with_spans(throughput: measure.Throughput, drain_s: float) -> dict[str, float]:
    """The phase's rate when its spans count: first submit to last decision, plus the time
    the queues took to empty after that."""
    seconds = throughput.seconds + drain_s
    return {
        "spans_after_last_decision_s": drain_s,
        "seconds": round(seconds, 3),
        "comments_per_s": round(throughput.comments / seconds, 2) if seconds > 0 else 0.0,
    }


def ratios(result: dict[str, Any]) -> dict[str, float | None]:
    raw = result["raw"]["comments_per_s"]
    runs = {r["workers"]: r for r in result["runs"]}
    first = result["runs"][0]

    def per_s(run: dict[str, Any], path: str) -> float:
        return float(run["throughput"][path]["decisions_per_s"])

    out: dict[str, float | None] = {
        "pipeline_batch_to_raw": round(per_s(first, "batch") / raw, 3),
        "pipeline_single_to_raw": round(per_s(first, "single") / raw, 3),
        "best_pipeline_to_raw": round(
            max(per_s(r, p) for r in runs.values() for p in ("batch", "single")) / raw, 3
        ),
        "scale_out_batch_2_to_1": None,
        "scale_out_single_2_to_1": None,
    }
    scorers = (result.get("scorers") or {}).get("comments_per_s")
    if scorers:
        out["scorers_to_raw"] = round(scorers / raw, 3)
        for path in ("batch", "single"):
            out[f"pipeline_{path}_to_scorers"] = round(per_s(first, path) / scorers, 3)
    # The same ratio per core used: decisions per worker CPU-second over raw comments per
    # CPU-second. Near 1 where the pipeline is short of cores, not wasteful.
    raw_cores = result["raw"].get("cores_used") or 0.0
    for path in ("batch", "single"):
        cpu = (first.get("cpu_cores") or {}).get(path) or {}
        worker_cores = sum(v for k, v in cpu.items() if k.startswith("worker-"))
        out[f"pipeline_{path}_to_raw_per_core"] = (
            round((per_s(first, path) / worker_cores) / (raw / raw_cores), 3)
            if worker_cores > 0 and raw_cores > 0
            else None
        )
    if 1 in runs and 2 in runs:
        for path in ("batch", "single"):
            out[f"scale_out_{path}_2_to_1"] = round(per_s(runs[2], path) / per_s(runs[1], path), 3)
    return out
