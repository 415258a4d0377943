"""The Perspective benchmark must not rot: ``make bench --quick`` runs it against a real API
process, and its figures are checked here (types and sane ranges, never speed)."""

from __future__ import annotations

import pytest

from benchmarks.perspective import CALLER_TIMEOUTS_MS, PerspectiveOptions, concurrent_throughput

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def check_latency(lat: dict, requests: int) -> None:
    assert lat["requests"] == requests
    for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms"):
        assert isinstance(lat[key], float) and 0 < lat[key] < 600_000, lat
    assert lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"] <= lat["max_ms"]
    assert set(lat["within_ms"]) == set(CALLER_TIMEOUTS_MS)
    assert all(0.0 <= share <= 1.0 for share in lat["within_ms"].values())


def check_perspective(result: dict) -> None:
    """The figures of ``run_perspective`` (``make bench --quick`` runs it: see
    tests/benchmarks/test_pipeline_bench.py)."""
    quick = PerspectiveOptions.quick_smoke()
    assert result["benchmark"] == "perspective"
    assert result["endpoint"] == "POST /v1alpha1/comments:analyze"
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
