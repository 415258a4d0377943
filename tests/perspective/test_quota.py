from __future__ import annotations

from moderation.perspective.quota import Metric, over_quota


def test_each_key_method_and_second_has_its_own_count(redis_conn):
    def over(name: str, metric: Metric, now: float) -> bool:
        return over_quota(redis_conn, key_name=name, metric=metric, per_second=2, now=now)

    assert [over("a", Metric.ANALYZE, 100.1) for _ in range(3)] == [False, False, True]
    assert over("b", Metric.ANALYZE, 100.2) is False
    assert over("a", Metric.SUGGEST, 100.3) is False
    assert over("a", Metric.ANALYZE, 101.0) is False  # the next second starts again
    assert 0 < redis_conn.ttl("moderation:perspective:quota:analyze:a:100") <= 2
