"""Shared fixtures: real Redis and a real database (SQLite, and PostgreSQL when
MODERATION_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TEST_REDIS_URL = os.environ.get("MODERATION_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_conn() -> Iterator[redis_lib.Redis]:
    """A real Redis database, flushed before and after the test."""
    conn = redis_lib.Redis.from_url(TEST_REDIS_URL)
    try:
        conn.ping()
    except redis_lib.ConnectionError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"Redis at {TEST_REDIS_URL} is not reachable ({exc}); .ci/run starts it")
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data/, or skip the test when the data is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"development data {path} is absent (it lives beside the project, not in it)")
    return path
