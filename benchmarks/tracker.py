"""Learning when submitted comments were decided, without loading the API much.

A comment's figure is its decision's own ``decided_at`` (written by the worker) minus the
client's clock just before the POST; both clocks are this machine's. How often the tracker
looks changes only when it learns the answer, not the answer. Each round it reads the
pending comments in the order they were sent and stops after ``lookahead`` still-pending
ones, since later ones are rarely decided first; so a round costs a few GETs, not one per
comment in flight.
"""

from __future__ import annotations

import threading
import time

from benchmarks.client import BenchmarkError, Publisher


class DecisionTracker:
    def __init__(self, publisher: Publisher, *, lookahead: int = 4, interval: float = 0.2):
        self.publisher = publisher
        self.lookahead = lookahead
        self.interval = interval
        self.sent: dict[str, float] = {}
        self.decided: dict[str, float] = {}
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def add(self, comment_id: str, sent_at: float) -> None:
        with self._lock:
            self.sent[comment_id] = sent_at
            self._pending.append(comment_id)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def poll_once(self) -> None:
        with self._lock:
            order = list(self._pending)
        misses = 0
        for comment_id in order:
            at = self.publisher.decided_at(comment_id)
            if at is None:
                misses += 1
                if misses >= self.lookahead:
                    break
                continue
            with self._lock:
                self.decided[comment_id] = at
                self._pending.remove(comment_id)

    def start(self) -> DecisionTracker:
        """Poll in a background thread while comments are still being sent."""

        def loop() -> None:
            try:
                while not self._stop.wait(self.interval):
                    self.poll_once()
            except BaseException as exc:  # noqa: BLE001 - handed to wait()
                self._error = exc

        self._thread = threading.Thread(target=loop, name="decision-tracker", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def wait(self, timeout: float, *, required: bool = True) -> bool:
        """Until every added comment is decided, or ``timeout`` seconds; False on timeout
        (or a BenchmarkError when ``required``)."""
        self.stop()
        if self._error is not None:
            raise self._error
        deadline = time.monotonic() + timeout
        while self.pending:
            if time.monotonic() >= deadline:
                if required:
                    raise BenchmarkError(
                        f"{self.pending} of {len(self.sent)} comments still pending after "
                        f"{timeout:.0f} s"
                    )
                return False
            self.poll_once()
            if self.pending:
                time.sleep(self.interval)
        return True

    def latencies(self) -> list[float]:
        """Seconds from send to decision, in send order (decided comments only)."""
        return [self.decided[c] - self.sent[c] for c in self.sent if c in self.decided]
