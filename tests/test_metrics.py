"""moderation/metrics.py: counts kept in memory, added to Redis, read back as one scrape."""

from __future__ import annotations

import pytest
import redis as redis_lib
from prometheus_client.parser import text_string_to_metric_families

from moderation import metrics
from moderation.metrics import Recorder


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def test_counts_from_two_processes_add_up_in_one_scrape(redis_conn):
    api, worker = Recorder(), Recorder()
    api.inc(metrics.COMMENTS_RECEIVED, site="daily")
    api.inc(metrics.COMMENTS_RECEIVED, 2, site="daily")
    worker.inc(metrics.COMMENTS_RECEIVED, site="evening")
    worker.inc(metrics.COMMENTS_RECEIVED, site="daily")
    assert metrics.flush(redis_conn, "q", api) == 1
    assert metrics.flush(redis_conn, "q", worker) == 2
    assert metrics.flush(redis_conn, "q", worker) == 0  # nothing new
    got = samples(metrics.exposition(redis_conn, "q"))
    assert got[("moderation_comments_received_total", (("site", "daily"),))] == 4
    assert got[("moderation_comments_received_total", (("site", "evening"),))] == 1
    # Another deployment's queue on the same Redis sees none of it.
    other = samples(metrics.exposition(redis_conn, "other"))
    assert not any(name == "moderation_comments_received_total" for name, _ in other)


def test_a_histogram_keeps_its_buckets_sum_and_count(redis_conn):
    r = Recorder()
    for seconds in (0.05, 0.1, 0.3, 2.0, 7200.0, 100000.0):
        r.observe(metrics.DECISION_LATENCY, seconds, site="s", decided_by="rules")
    metrics.flush(redis_conn, "q", r)
    got = samples(metrics.exposition(redis_conn, "q"))
    labels = (("decided_by", "rules"), ("site", "s"))

    def bucket(le: str) -> float:
        return got[
            ("moderation_decision_latency_seconds_bucket", tuple(sorted((*labels, ("le", le)))))
        ]

    assert bucket("0.1") == 2  # a value on a bound falls in it (le: less or equal)
    assert bucket("0.25") == 2
    assert bucket("0.5") == 3
    assert bucket("2.5") == 4
    assert bucket("14400.0") == 5
    assert bucket("86400.0") == 5
    assert bucket("+Inf") == 6
    assert got[("moderation_decision_latency_seconds_count", labels)] == 6
    assert got[("moderation_decision_latency_seconds_sum", labels)] == pytest.approx(107202.45)


def test_labels_must_be_the_metrics_own():
    r = Recorder()
    with pytest.raises(ValueError, match=r"moderation_decisions_total takes labels"):
        r.inc(metrics.DECISIONS, site="s", action="approve")
    with pytest.raises(ValueError, match="is a histogram, not a counter"):
        r.inc(metrics.DECISION_LATENCY, site="s", decided_by="rules")
    with pytest.raises(ValueError, match="is a counter, not a histogram"):
        r.observe(metrics.DECISIONS, 1.0, site="s", action="a", decided_by="b", rule="c")


def test_counts_survive_a_redis_outage_until_the_next_flush(redis_conn):
    r = Recorder()
    r.inc(metrics.SCORING_FAILURES)
    down = redis_lib.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    with pytest.raises(redis_lib.ConnectionError):
        metrics.flush(down, "q", r)
    r.inc(metrics.SCORING_FAILURES)
    metrics.flush(redis_conn, "q", r)
    got = samples(metrics.exposition(redis_conn, "q"))
    assert got[("moderation_scoring_failures_total", ())] == 2


def test_an_admin_scrape_shows_its_own_sites_series_and_the_deployments(redis_conn):
    r = Recorder()
    r.inc(metrics.COMMENTS_RECEIVED, site="daily")
    r.inc(metrics.COMMENTS_RECEIVED, site="evening")
    r.inc(metrics.WEBHOOK_DELIVERIES, outcome="delivered")
    r.observe(metrics.DECISION_LATENCY, 1.0, site="evening", decided_by="rules")
    metrics.flush(redis_conn, "q", r)

    def gauges():
        return [
            (metrics.QUEUE_DEPTH, {"queue": "q"}, 3),
            (metrics.ESCALATIONS, {"site": "daily"}, 1),
            (metrics.ESCALATIONS, {"site": "evening"}, 5),
        ]

    got = samples(metrics.exposition(redis_conn, "q", gauges, site="daily"))
    names = {(name, labels) for name, labels in got}
    assert ("moderation_comments_received_total", (("site", "daily"),)) in names
    assert not any(("site", "evening") in labels for _, labels in names)
    assert got[("moderation_webhook_deliveries_total", (("outcome", "delivered"),))] == 1
    assert got[("moderation_queue_depth", (("queue", "q"),))] == 3
    assert got[("moderation_escalations_waiting", (("site", "daily"),))] == 1


def test_every_metric_is_in_the_scrape_with_its_help_and_type(redis_conn):
    text = metrics.exposition(redis_conn, "q", list).decode()
    for metric in metrics.METRICS:
        assert f"# HELP {metric.name} {metric.help}" in text, metric.name
        assert f"# TYPE {metric.name} {metric.kind}" in text, metric.name
