"""The publisher's side of the HTTP API, and nothing else: what the benchmark may rely on."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx

from benchmarks.corpus import Article, Comment


class BenchmarkError(RuntimeError):
    """The stack refused, failed or ran out of time: the figures would be wrong."""


def timestamp(value: str) -> float:
    """Seconds since the epoch of an ISO time from the API (naive times are UTC)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


class Publisher:
    """An HTTP client with the publisher's key; one instance is shared by client threads."""

    def __init__(self, base_url: str, api_key: str, *, connections: int = 32, timeout: float = 60):
        self.http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self, response: httpx.Response, *ok: int) -> httpx.Response:
        if response.status_code not in ok:
            raise BenchmarkError(
                f"{response.request.method} {response.request.url.path} answered "
                f"{response.status_code}: {response.text[:500]}"
            )
        return response

    def put_article(self, article: Article) -> None:
        self._check(self.http.put(f"/v1/articles/{article.id}", json=article.put_body()), 200, 201)

    def submit(self, comment: Comment) -> float:
        """POST one comment; returns the wall-clock time just before it was sent."""
        sent = time.time()
        self._check(self.http.post("/v1/comments", json=comment.body()), 202)
        return sent

    def submit_batch(self, comments: Sequence[Comment]) -> float:
        """POST one batch; every item must be accepted. Returns the time before sending."""
        sent = time.time()
        body = {"comments": [c.body() for c in comments]}
        result = self._check(self.http.post("/v1/comments/batch", json=body), 202).json()
        if result.get("accepted") != len(comments):
            errors = [r for r in result.get("results", []) if r.get("result") != "accepted"]
            raise BenchmarkError(f"batch: {len(errors)} item(s) not accepted: {errors[:3]}")
        return sent

    def decided_at(self, comment_id: str) -> float | None:
        """When the comment's first decision was made (the worker's clock), or None."""
        body = self._check(self.http.get(f"/v1/comments/{comment_id}"), 200).json()
        decisions = body.get("decisions") or []
        if not decisions:
            return None
        return min(timestamp(d["decided_at"]) for d in decisions)
