"""Latency quantiles: undecided comments rank above every decided one."""

from __future__ import annotations

from benchmarks.measure import _quantile_ms


def test_quantiles_interpolate_between_ranks():
    samples = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert _quantile_ms(samples, 0.5, 0) == 300.0
    assert _quantile_ms(samples, 1.0, 0) == 500.0
    assert _quantile_ms(samples, 0.99, 0) == 496.0


def test_a_quantile_among_undecided_comments_is_unknown():
    samples = [0.1, 0.2, 0.3]
    assert _quantile_ms(samples, 0.5, 1) == 250.0
    assert _quantile_ms(samples, 0.99, 1) is None
    assert _quantile_ms([], 0.5, 3) is None
