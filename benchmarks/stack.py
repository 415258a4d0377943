"""The real service as a publisher runs it: a Redis server, a uvicorn API process and W
worker processes (``python -m moderation worker``), over one database.

Only the command line, the environment and HTTP are used, so the benchmark keeps working
while the internals change. Each stack has its own Redis (embedded redis-server on a unix
socket) and its own database, so runs do not see each other's queues or duplicate texts.
Everything listens on loopback or a socket in the run's folder; every wait has a deadline.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis
from rq import Queue, Worker

from benchmarks.client import BenchmarkError
from benchmarks.corpus import ROOT
from moderation.connections import EmbeddedRedis

API_START_TIMEOUT = 90.0
WORKER_START_TIMEOUT = 300.0
"""Loading the models takes a while on a busy machine."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    def __init__(self, label: str, workdir: Path, database_url: str, *, workers: int):
        self.label = label
        self.dir = workdir / label
        self.dir.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url
        self.worker_count = workers
        self.api_key = f"bench-{secrets.token_hex(12)}"
        self.port = free_port()
        self.redis = EmbeddedRedis(self.dir / "var")
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        # The service's own defaults, not whatever MODERATION_* the caller's shell has.
        base = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
        return {
            **base,
            "MODERATION_DATABASE_URL": self.database_url,
            "MODERATION_REDIS_URL": self.redis.url,
            "MODERATION_API_KEYS": f"publisher:{self.api_key}",
            "MODERATION_VAR_DIR": str(self.dir / "var"),
            "MODERATION_RULES": str(ROOT / "rules" / "default.yaml"),
            "MODERATION_WORKERS": str(self.worker_count),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = self.dir / f"{name}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            return subprocess.Popen(
                args, env=self.env(), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip

    def start(self, *, workers: bool = True) -> Stack:
        self.redis.start()
        migrate = subprocess.run(
            [sys.executable, "-m", "moderation", "db", "upgrade"],
            env=self.env(), cwd=ROOT, capture_output=True, timeout=300,
        )  # fmt: skip
        if migrate.returncode != 0:
            raise BenchmarkError(f"db upgrade failed: {migrate.stderr.decode()[-2000:]}")
        self.start_api()
        if workers:
            self.start_workers()
            self.wait_ready()
        return self

    def start_api(self) -> None:
        self.api = self._spawn(
            "api",
            [sys.executable, "-m", "uvicorn", "--factory", "moderation.api.main:create_app",
             "--host", "127.0.0.1", "--port", str(self.port)],
        )  # fmt: skip
        # Loaded, not only alive: the API loads the Perspective analyzer's models in the
        # background at start, and a measurement taken meanwhile would time that load. The
        # workers are not started yet, so their readiness check is the one allowed to fail.
        self.wait_ready(allow_failing={"workers"})

    def wait_ready(self, *, allow_failing: frozenset[str] | set[str] = frozenset()) -> None:
        """Until ``/readyz`` answers 200, or 503 with only ``allow_failing`` checks failing."""
        assert self.api is not None
        deadline = time.monotonic() + API_START_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            if self.api.poll() is not None:
                raise BenchmarkError("the API exited at start\n" + self.tail())
            try:
                r = httpx.get(f"{self.url}/readyz", timeout=2)
                if r.status_code == 200:
                    return
                failing = set(r.json().get("failing") or ()) if r.status_code == 503 else None
                if failing and failing <= set(allow_failing):
                    return
                last = r.text[:300]
            except (httpx.HTTPError, ValueError) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise BenchmarkError(
            f"the API was not ready within {API_START_TIMEOUT:.0f} s: {last}\n" + self.tail()
        )

    def start_workers(self) -> None:
        """Start the workers and wait until each has registered with RQ (models loaded)."""
        for i in range(self.worker_count):
            name = f"bench-{self.label}-{i + 1}"
            cmd = [sys.executable, "-m", "moderation", "worker", "--name", name]
            self.workers.append(self._spawn(f"worker-{i + 1}", cmd))
        conn = redis.Redis.from_url(self.redis.url, socket_timeout=10)
        wanted = {p.pid for p in self.workers}
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        try:
            while time.monotonic() < deadline:
                for proc in self.workers:
                    if proc.poll() is not None:
                        raise BenchmarkError("a worker exited at start\n" + self.tail())
                if wanted <= {w.pid for w in Worker.all(connection=conn)}:
                    return
                time.sleep(0.25)
        finally:
            conn.close()
        raise BenchmarkError(f"workers not ready within {WORKER_START_TIMEOUT:.0f} s")

    def pids(self) -> dict[str, int]:
        out = {"api": self.api.pid} if self.api else {}
        out.update({f"worker-{i + 1}": p.pid for i, p in enumerate(self.workers)})
        if self.redis.process is not None:
            out["redis"] = self.redis.process.pid
        return out

    def wait_idle(self, timeout: float) -> float:
        """Until every RQ queue is empty and no job is running (the spans of decided
        comments included); the seconds it took. Raises after ``timeout``."""
        conn = redis.Redis.from_url(self.redis.url, socket_timeout=10)
        start = time.monotonic()
        try:
            while True:
                queues = Queue.all(connection=conn)
                if all(q.count == 0 and q.started_job_registry.count == 0 for q in queues):
                    return round(time.monotonic() - start, 3)
                if time.monotonic() - start > timeout:
                    raise BenchmarkError(
                        f"the queues did not empty within {timeout:.0f} s: "
                        + ", ".join(f"{q.name} {q.count}" for q in queues)
                    )
                time.sleep(0.1)
        finally:
            conn.close()

    def stop_workers(self) -> None:
        _stop(self.workers)
        self.workers = []

    def stop(self) -> None:
        _stop([*self.workers, *([self.api] if self.api else [])])
        self.workers, self.api = [], None
        self.redis.stop()

    def tail(self, chars: int = 3000) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}"
            for p in self.logs
            if p.exists()
        )

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _stop(procs: list[subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
