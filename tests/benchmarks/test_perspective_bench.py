"""The Perspective benchmark must not rot: a small run against a real API process, checked
for every figure (types and sane ranges, never speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.perspective import CALLER_TIMEOUTS_MS, PerspectiveOptions, concurrent_throughput
from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def check_latency(lat: dict, requests: int) -> None:
    assert lat["requests"] == requests
    for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"):
        assert isinstance(lat[key], float) and 0 < lat[key] < 600_000, lat
    assert lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"] <= lat["max_ms"]
    assert set(lat["within_ms"]) == set(CALLER_TIMEOUTS_MS)
    assert all(0.0 <= share <= 1.0 for share in lat["within_ms"].values())


def test_quick_perspective_benchmark_writes_every_figure(tmp_path: Path):
    out = tmp_path / "perspective.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.perspective", "--quick", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    result = json.loads(out.read_text())
    quick = PerspectiveOptions.quick_smoke()
    assert result["benchmark"] == "perspective"
    assert result["endpoint"] == "POST /v1alpha1/comments:analyze"
    assert result["corpus"]["source"] in {"shared-data", "synthetic"}
    assert result["startup_seconds"] > 0
    check_latency(result["single"], quick.requests)
    check_latency(result["spans"], quick.span_requests)
    assert [run["clients"] for run in result["concurrent"]] == quick.clients
    for run in result["concurrent"]:
        assert run["requests"] == quick.concurrent_requests
        assert run["per_s"] > 0 and run["seconds"] > 0
        check_latency(run["latency"], quick.concurrent_requests)
    assert result["rss_mb"]["api"] > 0


class FailingAnalyzer:
    def __init__(self) -> None:
        self.sent = 0

    def analyze(self, text: str, *, spans: bool = False) -> float:
        self.sent += 1
        if text == "bad":
            raise RuntimeError("POST answered 400")
        return 0.01


def test_a_failed_request_stops_the_concurrent_run_with_its_error():
    from benchmarks.client import BenchmarkError

    analyzer = FailingAnalyzer()
    with pytest.raises(BenchmarkError) as exc:
        concurrent_throughput(analyzer, ["ok", "bad", *["ok"] * 50], clients=1)  # type: ignore[arg-type]
    assert str(exc.value) == "1 clients: POST answered 400"
    assert analyzer.sent == 2
