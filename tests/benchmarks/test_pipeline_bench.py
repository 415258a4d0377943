"""`make bench` must not rot: a small run of the real benchmark, checked for every figure
(types and sane ranges, never speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.benchmarks.test_perspective_bench import check_perspective
from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def number(value: object, low: float = 0.0, high: float = float("inf")) -> float:
    assert isinstance(value, int | float) and not isinstance(value, bool), value
    assert low <= value <= high, value
    return float(value)


def check_latency(lat: dict) -> None:
    assert 1 <= lat["decided"] <= lat["comments"]
    number(lat["offered_per_s"], 0.0001)
    for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
        if lat[key] is None:  # only when some comments were never decided in time
            assert lat["decided"] < lat["comments"], lat
        else:
            number(lat[key], 0, 3_600_000)
    if lat["p50_ms"] is not None and lat["p99_ms"] is not None:
        assert lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"]
    number(lat["ack_p50_ms"], 0)
    assert len(lat["samples_ms"]) == lat["decided"]


def test_quick_benchmark_writes_every_figure(tmp_path: Path):
    out, png = tmp_path / "pipeline.json", tmp_path / "pipeline.png"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out), "--png", str(png)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    for name in ("pipeline, POST /v1/comments/batch", "pipeline / raw", "API ingest alone",
                 "peak RSS, each worker", "cores used during batch throughput",
                 "capacity with the spans", "scorers alone, in one process"):  # fmt: skip
        assert name in proc.stdout, proc.stdout

    result = json.loads(out.read_text())
    assert result["corpus"]["source"] in {"shared-data", "synthetic"}
    raw = result["raw"]
    assert raw["comments"] == result["options"]["comments"]
    number(raw["comments_per_s"], 0.01)
    for lane in ("batch", "single"):
        ingest = result["ingest"][lane]
        assert ingest["comments"] == result["options"]["ingest_comments"]
        number(ingest["per_s"], 0.01)

    [run] = result["runs"]  # --quick: one worker count
    assert run["workers"] == 1
    for lane in ("batch", "single"):
        tp = run["throughput"][lane]
        assert tp["comments"] == result["options"]["comments"]
        number(tp["decisions_per_s"], 0.01)
        assert len(tp["decided_offsets"]) == tp["comments"]
        assert tp["decided_offsets"] == sorted(tp["decided_offsets"])
        assert 0 < tp["decided_offsets"][-1] <= tp["seconds"] + 0.01
        spans = run["with_spans"][lane]  # the capacity counts the spans of the phase too
        assert spans["seconds"] >= tp["seconds"]
        number(spans["comments_per_s"], 0.01, tp["decisions_per_s"] + 0.01)
        cores = run["cpu_cores"][lane]  # where the cores went, process by process
        for process in ("worker-1", "api", "redis", "client"):
            number(cores[process], 0.0, cores["machine"] * 1.5)
        assert cores["worker-1"] > 0
    number(raw["cores_used"], 0.1, 1000)
    scorers = result["scorers"]  # the scorers alone, in the benchmark's process
    assert scorers["comments"] == raw["comments"]
    number(scorers["comments_per_s"], 0.01)
    check_latency(run["latency"])
    assert run["latency"]["decided"] == run["latency"]["comments"]
    bulk = run["bulk"]
    assert bulk["bulk_comments"] == result["options"]["bulk_comments"]
    assert 0 <= bulk["bulk_decided_before_last_single"] <= bulk["bulk_comments"]
    check_latency(bulk["singles"])
    number(run["rss_mb"]["api"], 20, 100_000)
    [worker_rss] = run["rss_mb"]["workers"]
    number(worker_rss, 50, 100_000)

    check_perspective(result["perspective"])
    assert "Perspective analyze, one at a time" in proc.stdout, proc.stdout

    ratios = result["ratios"]
    for key in ("pipeline_batch_to_raw", "pipeline_single_to_raw", "best_pipeline_to_raw",
                "pipeline_batch_to_raw_per_core", "pipeline_single_to_raw_per_core",
                "scorers_to_raw", "pipeline_batch_to_scorers",
                "pipeline_single_to_scorers"):  # fmt: skip
        number(ratios[key], 0.0001)
    assert ratios["scale_out_batch_2_to_1"] is None  # no 2-worker run in --quick

    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size < 150_000
