"""Per-API-key request quotas, counted in Redis so that every API process shares them.

The algorithm is a token bucket: each bucket (an API key's id, say) holds up to ``burst``
tokens and gains ``per_second`` tokens a second; a request takes ``cost`` tokens, or is
refused, taking nothing, when there are not enough. Bursts up to ``burst`` pass at once while
the sustained rate stays ``per_second``, and a refusal says exactly when to come back.

Why a Lua script: reading the bucket, refilling it and taking tokens must be one step.
Done from Python (HGET, compute, HSET) two processes could read the same state and both
spend the last token; a script runs atomically in Redis, so there is no such race and a
decision is one round trip (EVALSHA, through redis-py's ``register_script``).

Why the Redis server's clock (``TIME``, read inside the script): the API processes may run
on several machines whose clocks disagree; a bucket refilled by one clock and spent by
another would gain or lose tokens. The one Redis server is the one clock they all share.
(Redis 5 and later replicate a script by its effects, so a script may read ``TIME`` and
then write.) Tests pass ``now=`` instead, for deterministic time.

State, per bucket, in one hash ``<prefix><bucket>``: ``tokens`` (a float) and ``ts`` (when
they were counted, in integer microseconds). Its expiry is the time to refill the whole
bucket plus a second: by then an idle bucket would be full again, which is what a missing
key means, so idle keys cost no memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import redis

DEFAULT_PREFIX = "moderation:quota:"

EXPIRY_MARGIN_MS = 1000
"""Added to the refill time in the bucket's expiry, so that a bucket never expires early."""

_TAKE_LUA = """
-- KEYS[1]: the bucket's hash (fields tokens, ts).
-- ARGV: per_second, burst, cost, now in integer microseconds ("" = the server's TIME),
--       expiry margin in milliseconds.
-- Returns {allowed (1/0), whole tokens left (0 when refused), retry after in ms (0 if allowed)}.
if redis.replicate_commands then redis.replicate_commands() end -- Redis < 5 only; else a no-op
local per_second = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
-- Float slack: a client that waited the whole retry-after must not be refused for 1e-16.
local eps = 1e-9

local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if not tokens or not ts then
  tokens, ts = burst, now -- a missing bucket is a full one (it expired, or never was)
end
if now > ts then -- a clock that went back refills nothing until it catches up
  tokens = tokens + (now - ts) * per_second / 1000000
  ts = now
end
tokens = math.min(burst, tokens) -- also when the quota's burst was lowered

if tokens + eps < cost then -- refused: nothing is written, so nothing is consumed
  return {0, 0, math.ceil((cost - tokens) / per_second * 1000)}
end
tokens = math.max(0, tokens - cost)
-- redis.call writes numbers with 17 significant digits: microseconds since 1970 are exact.
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', ts)
local expiry = math.ceil(burst / per_second * 1000) + tonumber(ARGV[5])
-- At most 2^53 ms (285,000 years), so that the number is written as a whole one.
redis.call('PEXPIRE', KEYS[1], math.min(expiry, 2 ^ 53))
return {1, math.floor(tokens + eps), 0}
"""


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Quota:
    """A token bucket's shape: ``per_second`` sustained, up to ``burst`` requests at once."""

    per_second: float
    """Sustained rate, in tokens (requests) per second; > 0."""
    burst: int
    """Bucket size: the most requests that may pass at once; >= 1."""

    def __post_init__(self) -> None:
        if not _is_number(self.per_second) or not (
            math.isfinite(self.per_second) and self.per_second > 0
        ):
            raise ValueError(
                f"Quota.per_second must be a finite number > 0 (requests per second), "
                f"not {self.per_second!r}"
            )
        if not isinstance(self.burst, int) or isinstance(self.burst, bool) or self.burst < 1:
            raise ValueError(
                f"Quota.burst must be a whole number >= 1 (the most requests at once), "
                f"not {self.burst!r}"
            )

    @classmethod
    def per_period(cls, requests: int, seconds: float, *, burst: int | None = None) -> Quota:
        """``requests`` every ``seconds`` (e.g. 600 a minute), all of them at once unless
        ``burst`` says fewer: how operators usually state a quota."""
        if not isinstance(requests, int) or isinstance(requests, bool) or requests < 1:
            raise ValueError(f"Quota requests must be a whole number >= 1, not {requests!r}")
        if not _is_number(seconds) or not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"Quota seconds must be a finite number > 0, not {seconds!r}")
        return cls(per_second=requests / seconds, burst=requests if burst is None else burst)


@dataclass(frozen=True)
class QuotaDecision:
    """One request's answer, with what the rate-limit headers need."""

    allowed: bool
    remaining: int
    """Whole tokens left after this request (0 when refused)."""
    retry_after: float
    """Seconds until the refused request would pass, rounded up to the millisecond (0.0 when
    allowed): a client that waits this long and asks again with the same cost succeeds,
    unless others took the tokens meanwhile."""
    limit: int
    """The burst, for an ``X-RateLimit-Limit`` style header."""


class RateLimiter:
    """Token buckets in one Redis, shared by every process that uses it.

    The connection is passed in (never created here); buckets live under ``prefix``.
    """

    def __init__(self, redis: redis.Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        self._prefix = prefix
        self._take = redis.register_script(_TAKE_LUA)

    def key(self, bucket: str) -> str:
        """The Redis key of ``bucket``'s hash."""
        return f"{self._prefix}{bucket}"

    def take(
        self, bucket: str, quota: Quota, *, cost: int = 1, now: float | None = None
    ) -> QuotaDecision:
        """Take ``cost`` tokens from ``bucket`` (e.g. a key's id), refilling at
        ``quota.per_second`` up to ``quota.burst``; a refused request takes nothing.

        ``now`` (seconds, any epoch, used consistently per bucket) replaces the Redis
        server's clock, for tests. A bucket's state does not record its quota: the quota
        given now applies to the tokens left by earlier calls.

        Raises ``ValueError`` for an empty bucket name or a ``cost`` that is not a whole
        number from 1 to the burst (a cost above the burst could never pass). Redis errors
        (``redis.RedisError``: connection lost, timeout...) are raised as they come: whether
        requests pass while Redis is down is the caller's decision, not this module's.
        """
        if not isinstance(bucket, str) or not bucket:
            raise ValueError(f"bucket must be a non-empty string, not {bucket!r}")
        if not isinstance(cost, int) or isinstance(cost, bool) or cost < 1:
            raise ValueError(f"cost must be a whole number >= 1, not {cost!r}")
        if cost > quota.burst:
            raise ValueError(
                f"cost {cost} exceeds the burst {quota.burst} of the quota: "
                "the bucket never holds that many tokens, so it could never pass"
            )
        if now is None:
            now_us = ""
        elif _is_number(now) and math.isfinite(now):
            now_us = str(round(now * 1_000_000))
        else:
            raise ValueError(f"now must be a finite number of seconds, not {now!r}")
        result: Any = self._take(
            keys=[self.key(bucket)],
            args=[repr(float(quota.per_second)), quota.burst, cost, now_us, EXPIRY_MARGIN_MS],
        )
        allowed, remaining, retry_ms = (int(value) for value in result)
        return QuotaDecision(
            allowed=bool(allowed),
            remaining=remaining,
            retry_after=retry_ms / 1000,
            limit=quota.burst,
        )


def retry_after_header(seconds: float) -> str:
    """An HTTP ``Retry-After`` value (whole seconds) for a wait of ``seconds``: rounded up,
    so that a client that obeys it does not come back too early, and at least 1, since 0
    would invite an immediate retry."""
    if not _is_number(seconds) or not math.isfinite(seconds):
        raise ValueError(f"seconds must be a finite number, not {seconds!r}")
    return str(max(1, math.ceil(seconds)))
