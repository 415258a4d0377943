"""Per-key request quotas of the Perspective-compatible API, counted in Redis so that every
API process sees every request: a counter per key, method and second (it expires after two).
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Any

QUOTA_KEY_PREFIX = "moderation:perspective:quota:"


class Metric(str, Enum):
    """Google's quota metric names of the two methods."""

    ANALYZE = "Analysis requests (AnalyzeComment)"
    SUGGEST = "Suggest requests (SuggestCommentScore)"

    @property
    def slug(self) -> str:
        return "analyze" if self is Metric.ANALYZE else "suggest"


def over_quota(
    redis: Any, *, key_name: str, metric: Metric, per_second: int, now: float | None = None
) -> bool:
    """Count this request; True when it is over ``per_second`` for this key and second.
    Raises redis errors (the caller decides whether to let the request through)."""
    second = int(time.time() if now is None else now)
    counter = f"{QUOTA_KEY_PREFIX}{metric.slug}:{key_name}:{second}"
    pipe = redis.pipeline(transaction=False)
    pipe.incr(counter)
    pipe.expire(counter, 2)
    count, _ = pipe.execute()
    return int(count) > per_second
