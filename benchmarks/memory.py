"""Peak resident memory of the stack's processes, sampled in a thread."""

from __future__ import annotations

import threading

import psutil


def rss(pid: int) -> int:
    """Resident bytes of the process itself (0 once it is gone). A worker's forked helper
    (RQ's scheduler) shares most of its pages, so adding the children's RSS would count
    the models twice."""
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


class RssSampler:
    """Samples every ``interval`` seconds; ``peaks`` maps each label to its highest RSS."""

    def __init__(self, interval: float = 0.25):
        self.interval = interval
        self.pids: dict[str, int] = {}
        self.peaks: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, label: str, pid: int) -> None:
        with self._lock:
            self.pids[label] = pid
            self.peaks.setdefault(label, 0)

    def sample(self) -> None:
        with self._lock:
            pids = dict(self.pids)
        for label, pid in pids.items():
            now = rss(pid)
            with self._lock:
                self.peaks[label] = max(self.peaks.get(label, 0), now)

    def start(self) -> RssSampler:
        def loop() -> None:
            while not self._stop.wait(self.interval):
                self.sample()

        self._thread = threading.Thread(target=loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        """Stops sampling; the peaks in MB (10^6 bytes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.sample()
        with self._lock:
            return {label: round(rss / 1e6, 1) for label, rss in self.peaks.items()}
