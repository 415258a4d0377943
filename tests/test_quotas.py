"""Token-bucket quotas in a real Redis: bursts, refusals and their retry-after, refill,
atomicity under threads, expiry, validation, and the server's clock."""

from __future__ import annotations

import math
import threading
import time

import pytest
import redis as redis_lib
from redis.backoff import NoBackoff
from redis.retry import Retry

from moderation.quotas import (
    DEFAULT_PREFIX,
    Quota,
    QuotaDecision,
    RateLimiter,
    retry_after_header,
)

T0 = 1_700_000_000.123456  # a realistic epoch, with microseconds, for `now=`


def test_a_burst_passes_then_the_next_is_refused_with_the_time_to_one_token(redis_conn):
    limiter = RateLimiter(redis_conn)
    quota = Quota(per_second=2.0, burst=3)
    decisions = [limiter.take("key-1", quota, now=T0) for _ in range(4)]
    assert decisions[:3] == [
        QuotaDecision(allowed=True, remaining=2, retry_after=0.0, limit=3),
        QuotaDecision(allowed=True, remaining=1, retry_after=0.0, limit=3),
        QuotaDecision(allowed=True, remaining=0, retry_after=0.0, limit=3),
    ]
    assert decisions[3] == QuotaDecision(allowed=False, remaining=0, retry_after=0.5, limit=3)
    # A quarter second on, half a token has come back: a quarter second still to wait.
    assert limiter.take("key-1", quota, now=T0 + 0.25).retry_after == 0.25


@pytest.mark.parametrize(
    ("per_second", "burst", "cost", "expected_retry"),
    [
        (3.0, 1, 1, 0.334),  # 1/3 s, rounded up to the millisecond
        (0.7, 2, 2, 2.858),  # 2 / 0.7 = 2.857142... s
        (7.3, 5, 3, 0.411),  # 3 / 7.3 = 0.410958... s
        (1000.0, 4, 1, 0.001),  # a millisecond: one less is no wait at all
        (0.5, 1, 1, 2.0),  # exact: no rounding to hide behind
    ],
)
def test_waiting_exactly_retry_after_passes_and_a_millisecond_less_does_not(
    redis_conn, per_second, burst, cost, expected_retry
):
    limiter = RateLimiter(redis_conn)
    quota = Quota(per_second=per_second, burst=burst)
    while limiter.take("k", quota, now=T0).allowed:  # empty the bucket
        pass
    refused = limiter.take("k", quota, cost=cost, now=T0)
    assert not refused.allowed
    assert refused.retry_after == expected_retry
    assert not limiter.take("k", quota, cost=cost, now=T0 + refused.retry_after - 0.001).allowed
    assert limiter.take("k", quota, cost=cost, now=T0 + refused.retry_after).allowed


@pytest.mark.parametrize(
    ("per_second", "burst", "after", "first", "second"),
    [(5.0, 9, 1.119, 5, 4), (12 / 7, 6, 1.024, 1, 5), (4 / 7, 6, 4.663, 2, 6)],
)
def test_retry_after_is_enough_despite_float_rounding(
    redis_conn, per_second, burst, after, first, second
):
    """Cases where, in floats, the tokens after waiting retry_after come to a hair under the
    cost (3.9999999999999996 for 4): the script allows for that much rounding."""
    limiter = RateLimiter(redis_conn)
    quota = Quota(per_second=per_second, burst=burst)
    assert limiter.take("k", quota, cost=burst, now=T0).allowed
    assert limiter.take("k", quota, cost=first, now=T0 + after).allowed
    refused = limiter.take("k", quota, cost=second, now=T0 + after)
    assert not refused.allowed
    assert not limiter.take(
        "k", quota, cost=second, now=T0 + after + refused.retry_after - 0.001
    ).allowed
    assert limiter.take("k", quota, cost=second, now=T0 + after + refused.retry_after).allowed


def test_buckets_are_independent(redis_conn):
    limiter = RateLimiter(redis_conn)
    quota = Quota(per_second=1.0, burst=2)
    assert [limiter.take("a", quota, now=T0).allowed for _ in range(3)] == [True, True, False]
    assert [limiter.take("b", quota, now=T0).allowed for _ in range(3)] == [True, True, False]
    # Another prefix is another set of buckets, even with the same names.
    other = RateLimiter(redis_conn, prefix="other:quota:")
    assert other.take("a", quota, now=T0).allowed
    assert sorted(redis_conn.keys("*")) == [b"moderation:quota:a", b"moderation:quota:b",
                                           b"other:quota:a"]  # fmt: skip
    assert limiter.key("a") == f"{DEFAULT_PREFIX}a"


def test_a_refused_request_consumes_nothing(redis_conn):
    limiter = RateLimiter(redis_conn)
    quota = Quota(per_second=1.0, burst=5)
    assert limiter.take("k", quota, cost=4, now=T0).remaining == 1
    state = redis_conn.hgetall(limiter.key("k"))
    for _ in range(5):
        refused = limiter.take("k", quota, cost=2, now=T0)
        assert (refused.allowed, refused.remaining, refused.retry_after) == (False, 0, 1.0)
    assert redis_conn.hgetall(limiter.key("k")) == state  # not even rewritten
    # The token left is still there, and the refusals did not push the refill back.
    assert limiter.take("k", quota, cost=1, now=T0).allowed
    assert not limiter.take("k", quota, cost=2, now=T0 + 1.999).allowed
    assert limiter.take("k", quota, cost=2, now=T0 + 2.0).allowed


def test_concurrent_takes_never_spend_a_token_twice(redis_conn):
    limiter = RateLimiter(redis_conn)
    quota = Quota(per_second=1.0, burst=10)
    start = threading.Barrier(20)
    decisions: list[QuotaDecision] = []
    lock = threading.Lock()

    def take() -> None:
        start.wait()
        decision = limiter.take("shared", quota, now=T0)  # time frozen: no refill
        with lock:
            decisions.append(decision)

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(decisions) == 20
    allowed = [d for d in decisions if d.allowed]
    assert len(allowed) == 10
    # Each allowed take saw its own count: no two read the same state.
    assert sorted(d.remaining for d in allowed) == list(range(10))


def test_the_bucket_expires_once_it_would_be_full_again(redis_conn):
    limiter = RateLimiter(redis_conn)
    limiter.take("fast", Quota(per_second=2.0, burst=10), now=T0)
    # Refilling 10 tokens at 2/s takes 5 s; plus the margin.
    assert 5_000 < redis_conn.pttl(limiter.key("fast")) <= 6_000
    assert redis_conn.ttl(limiter.key("fast")) in (5, 6)
    limiter.take("slow", Quota(per_second=0.01, burst=3), now=T0)
    assert 300_000 < redis_conn.pttl(limiter.key("slow")) <= 301_000
    # A refill of millions of years is capped where Redis still takes the number.
    limiter.take("glacial", Quota(per_second=1e-15, burst=1), now=T0)
    assert 2**53 - 10_000 < redis_conn.pttl(limiter.key("glacial")) <= 2**53
    # A missing bucket is a full one.
    redis_conn.delete(limiter.key("fast"))
    assert limiter.take("fast", Quota(per_second=2.0, burst=10), now=T0).remaining == 9


def test_idle_time_refills_up_to_the_burst_only(redis_conn):
    limiter = RateLimiter(redis_conn)
    quota = Quota(per_second=10.0, burst=3)
    assert limiter.take("k", quota, cost=3, now=T0).remaining == 0
    assert limiter.take("k", quota, now=T0 + 3600).remaining == 2  # not 36,000 tokens


def test_a_clock_that_goes_back_refills_nothing(redis_conn):
    limiter = RateLimiter(redis_conn)
    quota = Quota(per_second=1.0, burst=2)
    assert limiter.take("k", quota, now=T0).remaining == 1
    # Ten seconds back: the token left is spent, and none comes back (nor goes).
    assert limiter.take("k", quota, now=T0 - 10).remaining == 0
    assert not limiter.take("k", quota, now=T0 - 10).allowed
    # The refill still counts from the later time, not from the earlier one.
    assert not limiter.take("k", quota, now=T0 + 0.999).allowed
    assert limiter.take("k", quota, now=T0 + 1.0).allowed


def test_a_lowered_burst_caps_the_tokens_left(redis_conn):
    limiter = RateLimiter(redis_conn)
    assert limiter.take("k", Quota(per_second=1.0, burst=10), now=T0).remaining == 9
    assert limiter.take("k", Quota(per_second=1.0, burst=3), now=T0).remaining == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"per_second": 0, "burst": 1}, "per_second"),
        ({"per_second": -1.0, "burst": 1}, "per_second"),
        ({"per_second": math.nan, "burst": 1}, "per_second"),
        ({"per_second": math.inf, "burst": 1}, "per_second"),
        ({"per_second": "5", "burst": 1}, "per_second"),
        ({"per_second": True, "burst": 1}, "per_second"),
        ({"per_second": 1.0, "burst": 0}, "burst"),
        ({"per_second": 1.0, "burst": -3}, "burst"),
        ({"per_second": 1.0, "burst": 2.5}, "burst"),
        ({"per_second": 1.0, "burst": True}, "burst"),
    ],
)
def test_an_invalid_quota_names_its_field(kwargs, field):
    with pytest.raises(ValueError, match=rf"Quota\.{field} must be .*, not "):
        Quota(**kwargs)


def test_quota_per_period():
    assert Quota.per_period(600, 60) == Quota(per_second=10.0, burst=600)
    assert Quota.per_period(600, 60, burst=20) == Quota(per_second=10.0, burst=20)
    with pytest.raises(ValueError, match="requests"):
        Quota.per_period(0, 60)
    with pytest.raises(ValueError, match="seconds"):
        Quota.per_period(10, 0)
    with pytest.raises(ValueError, match=r"Quota\.burst"):
        Quota.per_period(10, 1, burst=0)


def test_a_cost_above_the_burst_or_below_one_is_refused_before_redis(redis_conn):
    limiter = RateLimiter(redis_conn)
    quota = Quota(per_second=1.0, burst=3)
    with pytest.raises(ValueError, match="cost 4 exceeds the burst 3"):
        limiter.take("k", quota, cost=4, now=T0)
    for cost in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="cost must be a whole number >= 1"):
            limiter.take("k", quota, cost=cost, now=T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bucket must be a non-empty string"):
        limiter.take("", quota, now=T0)
    with pytest.raises(ValueError, match="now must be a finite number"):
        limiter.take("k", quota, now=math.nan)
    assert redis_conn.keys("*") == []


def test_the_server_clock_by_default(redis_conn):
    limiter = RateLimiter(redis_conn)
    quota = Quota(per_second=1.0, burst=3)
    assert [limiter.take("k", quota).allowed for _ in range(3)] == [True, True, True]
    refused = limiter.take("k", quota)
    assert not refused.allowed
    assert 0 < refused.retry_after <= 1
    ts, _ = (float(v) for v in redis_conn.hmget(limiter.key("k"), "ts", "tokens"))
    assert abs(ts / 1e6 - time.time()) < 5  # microseconds of the server's epoch


def test_the_server_clock_retry_after_is_enough(redis_conn):
    limiter = RateLimiter(redis_conn)
    quota = Quota(per_second=20.0, burst=1)
    assert limiter.take("k", quota).allowed
    refused = limiter.take("k", quota)
    assert not refused.allowed
    assert 0 < refused.retry_after <= 0.05
    time.sleep(refused.retry_after)
    assert limiter.take("k", quota).allowed


def test_redis_errors_reach_the_caller():
    unreachable = redis_lib.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    limiter = RateLimiter(unreachable)  # registering a script does not talk to Redis
    with pytest.raises(redis_lib.ConnectionError):
        limiter.take("k", Quota(per_second=1.0, burst=1))
    unreachable.close()


def test_the_script_is_loaded_again_after_a_script_flush(redis_conn):
    limiter = RateLimiter(redis_conn)
    quota = Quota(per_second=1.0, burst=2)
    assert limiter.take("k", quota, now=T0).allowed
    redis_conn.script_flush()  # a restarted or failed-over Redis has no scripts
    assert limiter.take("k", quota, now=T0).allowed
    assert not limiter.take("k", quota, now=T0).allowed


@pytest.mark.parametrize(
    ("seconds", "header"),
    [(0.0, "1"), (0.001, "1"), (1.0, "1"), (1.001, "2"), (2.858, "3"), (59.9991, "60")],
)
def test_retry_after_header_rounds_up_to_at_least_one_second(seconds, header):
    assert retry_after_header(seconds) == header


def test_retry_after_header_refuses_nan():
    with pytest.raises(ValueError, match="seconds must be a finite number"):
        retry_after_header(math.nan)
