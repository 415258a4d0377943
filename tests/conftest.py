"""Shared fixtures: real Redis and a real database (SQLite, and PostgreSQL when
MODERATION_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _redis_database() -> int:
    """Database 15 of the test Redis, 14 for pytest-xdist's second process, and so on: each
    process flushes its own around every test (``make test`` runs two)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return 15 - int(worker.removeprefix("gw") or 0) % 15


TEST_REDIS_URL = os.environ.get(
    "MODERATION_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{_redis_database()}"
)

PROCESS_TESTS = ("e2e", "benchmarks")
"""Folders of tests that start servers, workers and browsers: under ``make test`` they run
one after another in one process (xdist group ``processes``), beside the rest, so that two
stacks never compete for the machine's cores and the suite's timing bounds hold."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """pytest-xdist groups (``--dist loadgroup``): every real-process test in one group, the
    others by file, so a module's fixtures are built once."""
    tests = Path(__file__).parent
    for item in items:
        path = Path(str(item.fspath))
        top = path.relative_to(tests).parts[0] if path.is_relative_to(tests) else ""
        group = "processes" if top in PROCESS_TESTS else str(path.relative_to(ROOT))
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True)
def _stop_signals_restored() -> Iterator[None]:
    """A worker run in the test process (``worker.work()``) installs RQ's SIGTERM and SIGINT
    handlers and leaves them there; later tests, and the processes they fork, get pytest's."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


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


# --- database -------------------------------------------------------------------------

TEST_PG_URL = os.environ.get("MODERATION_TEST_DATABASE_URL")
API_KEYS = {
    "publisher": "pub-test-key-0123456789",
    "moderator": "mod-test-key-0123456789",
    "admin": "adm-test-key-0123456789",
}
API_KEYS_SPEC = ",".join(
    f"{role}/{role}-tester:{key}" if role == "moderator" else f"{role}:{key}"
    for role, key in API_KEYS.items()
)


def _pg_database(tag: str) -> str:
    """A database of its own on the test server, migrated once per session."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    assert TEST_PG_URL
    name = f"moderation_test_{tag}_{os.getpid()}"
    admin = create_engine(TEST_PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(TEST_PG_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    from moderation.db import make_engine, upgrade

    url = _pg_database("main")
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url


def _truncate_all(url: str) -> None:
    from sqlalchemy import text

    from moderation.db import Base, make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        # As migration 0007 leaves it: the default site, which every keyless row names.
        conn.execute(
            text(
                "INSERT INTO sites (id, name, community_ids, created_at) "
                "VALUES ('default', 'Default site', '[]', now())"
            )
        )
    engine.dispose()


DB_PARAMS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def migrated_database(request: pytest.FixtureRequest, directory: Path) -> str:
    """A migrated, empty database of ``request.param`` (one of ``DB_PARAMS``): a SQLite file
    in ``directory``, or the session's PostgreSQL test database, emptied."""
    from moderation.db import make_engine, upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{directory / 'moderation.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    if not TEST_PG_URL:
        pytest.skip("MODERATION_TEST_DATABASE_URL is not set (.ci/run sets it)")
    url: str = request.getfixturevalue("pg_url")
    _truncate_all(url)
    return url


@pytest.fixture(params=DB_PARAMS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, then PostgreSQL when configured."""
    yield migrated_database(request, tmp_path)


def usual_settings(database_url: str, var_dir: Path, **overrides: Any) -> Any:
    """The tests' usual settings on ``database_url``: test Redis and keys, the shipped rules,
    a queue of its own, no Perspective analyzer (tests/perspective turns it on)."""
    from moderation.settings import Settings

    values: dict[str, Any] = dict(
        database_url=database_url,
        redis_url=TEST_REDIS_URL,
        api_keys=API_KEYS_SPEC,
        var_dir=var_dir,
        rules=ROOT / "rules" / "default.yaml",
        queue=f"test-{os.urandom(4).hex()}",
        perspective_enabled=False,
    )
    return Settings(**{**values, **overrides}, _env_file=None)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, redis_conn: redis_lib.Redis):
    return usual_settings(database_url, tmp_path / "var")


@pytest.fixture
def session_factory(settings):
    from moderation.db import make_engine, make_session_factory

    engine = make_engine(settings.effective_database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def worker_heartbeat(settings, redis_conn):
    """A ready worker's heartbeat for ``settings``' queue, published as a worker does once
    its scorers and rules are loaded: an in-process app's ``/readyz`` then sees a worker."""
    from moderation.heartbeats import Heartbeat, WorkerState, now_iso, publish

    beat = Heartbeat(
        name=f"test-worker-{os.getpid()}",
        pid=os.getpid(),
        host="test",
        queues=[settings.queue, settings.effective_bulk_queue],
        state=WorkerState.READY,
        started_at=now_iso(),
        scorers=settings.scorer_names,
    )
    # Long enough for any test; the Redis database is flushed after it.
    publish(redis_conn, queue=settings.queue, beat=beat, ttl_seconds=600)
    return beat


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEYS[role]}"}


@pytest.fixture
def client(settings):
    from fastapi.testclient import TestClient

    from moderation.api.main import create_app

    with TestClient(create_app(settings)) as test_client:
        yield test_client
