"""``moderation serve``: API, worker processes and (by default) an embedded Redis, together.

Workers are separate processes whose command line reads ``moderation worker`` so operators
can see and signal them; one that dies is restarted.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import uvicorn

from moderation.auth import KeyRing, Role, load_or_generate
from moderation.connections import EmbeddedRedis
from moderation.db import make_engine, upgrade
from moderation.policy import load_rules
from moderation.settings import Settings

log = logging.getLogger("moderation.serve")


class WorkerPool:
    def __init__(self, count: int, env: dict[str, str]):
        self.count = count
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []
        self.stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._supervise, name="worker-supervisor", daemon=True
        )

    def _spawn(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moderation", "worker"], env=self.env, stdin=subprocess.DEVNULL
        )
        log.info("started worker pid %d", proc.pid)
        return proc

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.count)]
        self._thread.start()

    def _supervise(self) -> None:
        while not self.stopping.wait(2.0):
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and not self.stopping.is_set():
                    log.warning(
                        "worker pid %d exited with %s; restarting", proc.pid, proc.returncode
                    )
                    time.sleep(1.0)
                    self.procs[i] = self._spawn()

    def stop(self) -> None:
        self.stopping.set()
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # RQ: warm shutdown, finishes the current job
        deadline = time.monotonic() + 30
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


def _exit_on_signal(signum: int, _frame: object) -> None:
    # uvicorn shuts down gracefully, restores this handler and re-raises the signal; raising
    # here (instead of the default "die at once") lets the finally-block stop the workers
    # and the embedded Redis.
    raise SystemExit(128 + signum)


def serve(settings: Settings) -> int:
    signal.signal(signal.SIGTERM, _exit_on_signal)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    load_rules(settings.rules)  # fail before starting anything if the rules file is broken
    env = dict(os.environ)
    if not settings.api_keys:
        spec, created = load_or_generate(settings.var_dir)
        env["MODERATION_API_KEYS"] = spec
        settings = settings.model_copy(update={"api_keys": spec})
        ring = KeyRing.parse(spec)
        print(
            ("Generated" if created else "Using")
            + f" API keys (stored in {settings.var_dir}/api-keys):"
        )
        for role in Role:
            for key in ring.keys_for(role):
                print(f"  {role.value:<10} {key}")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    engine.dispose()
    embedded = None
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.var_dir).start()
        env["MODERATION_REDIS_URL"] = embedded.url
        settings = settings.model_copy(update={"redis_url": embedded.url})
    env["MODERATION_WORKERS"] = str(settings.workers)  # each worker sizes its torch threads
    pool = WorkerPool(settings.workers, env)
    try:
        pool.start()
        from moderation.api.main import create_app

        print(
            f"Moderation API on http://{settings.host}:{settings.port} (docs at /docs)", flush=True
        )
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
    finally:
        pool.stop()
        if embedded is not None:
            embedded.stop()
    return 0
