"""``moderation serve``: API, worker processes and (by default) an embedded Redis, together.

Workers are separate processes whose command line reads ``moderation worker`` so operators
can see and signal them; one that dies is restarted. ``MODERATION_WORKERS`` scoring workers
load the models; ``MODERATION_WEBHOOK_WORKERS`` webhook workers (``moderation worker
--webhooks``) deliver to the publisher and load none. Ctrl+C (or SIGTERM, SIGHUP) stops the
API, then the workers (each finishes its current job), then the embedded Redis, and exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import uvicorn
from sqlalchemy import Engine, select

from moderation import logs
from moderation.auth import KeyRing, Role, load_or_generate, spec_keys
from moderation.connections import EmbeddedRedis
from moderation.db import Site, make_engine, make_session_factory, upgrade
from moderation.exceptions import ConfigurationError
from moderation.policy import load_rules
from moderation.settings import Settings

log = logging.getLogger("moderation.serve")

STOP_TIMEOUT_SECONDS = 30.0
"""How long workers get to finish their current job after Ctrl+C or SIGTERM."""


class WorkerPool:
    """``count`` processes of ``moderation worker [args]``, each restarted when it dies.

    Each runs in a session of its own, so a Ctrl+C in the terminal (SIGINT to the foreground
    process group) reaches only ``serve``, which then stops them in order: one SIGTERM each
    (RQ's warm shutdown: the current job finishes), before the embedded Redis stops."""

    def __init__(
        self, count: int, env: dict[str, str], args: Sequence[str] = (), kind: str = "worker"
    ):
        self.count = count
        self.env = env
        self.args = list(args)
        self.kind = kind
        self.procs: list[subprocess.Popen[bytes]] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._supervise, name=f"{kind}-supervisor", daemon=True
        )

    def _spawn(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moderation", "worker", *self.args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.info("started %s pid %d", self.kind, proc.pid)
        return proc

    def start(self) -> None:
        with self._lock:
            self.procs = [self._spawn() for _ in range(self.count)]
        if self.count:
            self._thread.start()

    def _supervise(self) -> None:
        while not self.stopping.wait(2.0):
            for i, proc in enumerate(list(self.procs)):
                if proc.poll() is None or self.stopping.is_set():
                    continue
                log.warning(
                    "%s pid %d exited with %s; restarting", self.kind, proc.pid, proc.returncode
                )
                if self.stopping.wait(1.0):
                    return
                with self._lock:
                    if not self.stopping.is_set():
                        self.procs[i] = self._spawn()

    def request_stop(self) -> None:
        """SIGTERM to each live worker, once: RQ's warm shutdown (a second signal would be
        its cold shutdown, which abandons the job in hand)."""
        with self._lock:
            self.stopping.set()
            for proc in self.procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        """Wait for the workers until ``deadline`` (monotonic); kill the ones still running
        (their jobs go back to the queue once their heartbeat expires)."""
        for proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s pid %d did not stop in time; killing it", self.kind, proc.pid)
                proc.kill()
                proc.wait()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        self.request_stop()
        self.wait(time.monotonic() + timeout)


class _Stop(Exception):
    """A stop was asked for (SIGINT, SIGTERM or SIGHUP): shut down in order, exit 0."""


def _stop_requested(signum: int, _frame: object) -> None:
    # uvicorn handles SIGINT and SIGTERM while it runs: it shuts down gracefully, restores
    # this handler and raises the signal again, which lands here too.
    raise _Stop(signal.Signals(signum).name)


def _hangup(_signum: int, _frame: object) -> None:
    # The terminal went away: the same orderly stop as SIGTERM (uvicorn's, while it runs).
    os.kill(os.getpid(), signal.SIGTERM)


def _already_stopping(signum: int, _frame: object) -> None:
    log.warning(
        "%s: already stopping (workers finish their current job, at most %.0f s)",
        signal.Signals(signum).name,
        STOP_TIMEOUT_SECONDS,
    )


def _shutdown(pools: Sequence[WorkerPool], embedded: EmbeddedRedis | None) -> None:
    """Workers first (all asked at once, then waited for), the embedded Redis last."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _already_stopping)
    for pool in pools:
        pool.request_stop()
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for pool in pools:
        pool.wait(deadline)
    if embedded is not None:
        embedded.stop()
    log.info("workers and the embedded Redis stopped")


def _check_key_sites(engine: Engine, ring: KeyRing) -> None:
    """Every site ``MODERATION_API_KEYS`` names must exist: refuse to start otherwise (a
    key of a missing site could only be refused, request after request)."""
    with make_session_factory(engine)() as session:
        known = set(session.scalars(select(Site.id)))
    missing = sorted(ring.env_sites() - known)
    if missing:
        raise ConfigurationError(
            "MODERATION_API_KEYS names site(s) that do not exist: "
            + ", ".join(missing)
            + "; create each with `moderation sites create SITE` (before sites, '@' gave a "
            "key's name: write 'role/name:KEY' for that)"
        )


def serve(settings: Settings) -> int:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop_requested)
    signal.signal(signal.SIGHUP, _hangup)
    try:
        return _serve(settings)
    except _Stop as stop:
        log.info("stopped on %s; exiting", stop)
        return 0


def _serve(settings: Settings) -> int:
    logs.configure(log_format=settings.log_format, log_text=settings.log_text, process="api")
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    load_rules(settings.rules)  # fail before starting anything if the rules file is broken
    env = dict(os.environ)
    if not settings.api_keys:
        spec, created = load_or_generate(settings.var_dir)
        env["MODERATION_API_KEYS"] = spec
        settings = settings.model_copy(update={"api_keys": spec})
        print(
            ("Generated" if created else "Using")
            + f" API keys (stored in {settings.var_dir}/api-keys):"
        )
        for role in Role:
            for key in spec_keys(spec, role):
                print(f"  {role.value:<10} {key}")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    _check_key_sites(engine, KeyRing.parse(settings.api_keys or ""))
    engine.dispose()
    embedded = None
    pools = [
        WorkerPool(settings.workers, env),
        WorkerPool(settings.webhook_workers, env, ["--webhooks"], kind="webhook worker"),
    ]
    try:
        if not settings.redis_url:
            embedded = EmbeddedRedis(settings.var_dir).start(own_session=True)
            env["MODERATION_REDIS_URL"] = embedded.url
            settings = settings.model_copy(update={"redis_url": embedded.url})
        env["MODERATION_WORKERS"] = str(settings.workers)  # each worker sizes its torch threads
        for pool in pools:
            pool.start()
        from moderation.api.main import create_app

        print(
            f"Moderation API on http://{settings.host}:{settings.port} (docs at /docs)", flush=True
        )
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level="info",
            log_config=None,  # its records go to the handler logs.configure set
        )
    finally:
        _shutdown(pools, embedded)
    return 0
