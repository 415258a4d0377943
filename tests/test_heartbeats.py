"""Worker heartbeats in a real Redis: published with a TTL, read back, forgotten when expired."""

from __future__ import annotations

from moderation.heartbeats import (
    HEARTBEAT_KEY,
    HEARTBEATS_KEY,
    Heartbeat,
    WorkerState,
    live,
    live_names,
    now_iso,
    publish,
    ready_workers,
    withdraw,
)


def beat(name: str, state: WorkerState = WorkerState.READY, **kw: object) -> Heartbeat:
    return Heartbeat(
        name=name, pid=123, host="box", queues=["q", "q-bulk"], state=state,
        started_at=now_iso(), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_published_heartbeat_is_live_with_its_ttl(redis_conn):
    publish(redis_conn, queue="q", beat=beat("w1", scorers=["spam"], rules_version="v1"),
            ttl_seconds=15)  # fmt: skip
    [read] = live(redis_conn, queue="q")
    assert (read.name, read.state, read.scorers, read.rules_version) == (
        "w1",
        WorkerState.READY,
        ["spam"],
        "v1",
    )
    assert read.beat_at
    ttl_ms = redis_conn.pttl(HEARTBEAT_KEY.format(queue="q", name="w1"))
    assert 0 < ttl_ms <= 15_000
    assert live(redis_conn, queue="other") == []  # another deployment's queue sees nothing


def test_expired_heartbeats_are_forgotten_and_withdrawn_ones_gone(redis_conn):
    for name in ("w1", "w2", "w3"):
        publish(redis_conn, queue="q", beat=beat(name), ttl_seconds=15)
    redis_conn.delete(HEARTBEAT_KEY.format(queue="q", name="w2"))  # as its TTL would
    withdraw(redis_conn, queue="q", name="w3")
    assert live_names(redis_conn, queue="q") == {"w1"}
    assert redis_conn.smembers(HEARTBEATS_KEY.format(queue="q")) == {b"w1"}


def test_only_ready_workers_of_the_queue_count(redis_conn):
    publish(redis_conn, queue="q", beat=beat("bad", WorkerState.FAILED, error="no model"),
            ttl_seconds=15)  # fmt: skip
    other = beat("elsewhere")
    other.queues = ["webhooks"]
    publish(redis_conn, queue="q", beat=other, ttl_seconds=15)
    beats = live(redis_conn, queue="q")
    assert ready_workers(beats, "q") == []
    publish(redis_conn, queue="q", beat=beat("good"), ttl_seconds=15)
    assert [b.name for b in ready_workers(live(redis_conn, queue="q"), "q")] == ["good"]
    failed = next(b for b in live(redis_conn, queue="q") if b.name == "bad").public()
    assert (failed["state"], failed["error"], failed["attempts"]) == ("failed", "no model", 1)
    assert "error" not in next(b for b in beats if b.name == "elsewhere").public()


def test_a_heartbeat_that_is_not_ours_is_not_a_live_worker(redis_conn):
    redis_conn.sadd(HEARTBEATS_KEY.format(queue="q"), "junk")
    redis_conn.set(HEARTBEAT_KEY.format(queue="q", name="junk"), b"{not json")
    assert live(redis_conn, queue="q") == []
    assert redis_conn.smembers(HEARTBEATS_KEY.format(queue="q")) == set()
