"""A module-scoped app, for modules whose tests share one (schemathesis, the docs pages):
a migrated SQLite file of its own and the test Redis database, flushed around the module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis as redis_lib
from fastapi import FastAPI

from tests.conftest import TEST_REDIS_URL, usual_settings


@pytest.fixture(scope="module")
def module_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    from moderation.api.main import create_app
    from moderation.db import make_engine, upgrade

    tmp = tmp_path_factory.mktemp("app")
    url = f"sqlite:///{tmp / 'moderation.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    conn = redis_lib.Redis.from_url(TEST_REDIS_URL)
    conn.flushdb()
    settings = usual_settings(url, tmp / "var")
    app = create_app(settings)
    yield app
    app.state.redis.close()
    app.state.engine.dispose()
    conn.flushdb()
    conn.close()
