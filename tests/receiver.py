"""A stand-in for the publisher's webhook endpoint: a small threaded HTTP server that records
every request and answers with the status codes it is told to (then 200), at once or, held,
when the test releases it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


class Receiver:
    """``hold``: every request is recorded when it arrives, then left hanging until
    ``release()`` (or the receiver closes), as a publisher endpoint that hangs."""

    def __init__(self, fail_first: int = 0, fail_status: int = 503, *, hold: bool = False):
        self.received: list[Received] = []
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.hold = hold
        self.released = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    failing = len(receiver.received) < receiver.fail_first
                    status = receiver.fail_status if failing else 200
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                 body, status)
                    )  # fmt: skip
                if receiver.hold:
                    receiver.released.wait(300)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/moderation"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def release(self) -> None:
        """Answer the held requests, and every later one at once."""
        self.released.set()

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, predicate, timeout: float = 60) -> list[Received]:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                got = [r for r in self.received if predicate(r)]
            if got:
                return got
            time.sleep(0.1)
        raise AssertionError(f"no matching webhook within {timeout}s; got {self.received!r}")
