"""CPU time of the stack's processes over one phase: where the machine's cores went.

On one machine the API, Redis, the database and the benchmark's own client share the cores
with the workers, so a pipeline slower than the raw model pass can be short of CPU rather
than wasteful. ``CpuMeter`` says which: each process's CPU seconds (user + system, its live
children included: RQ's scheduler is a worker's child) divided by the phase's wall time,
in cores.
"""

from __future__ import annotations

import os
import time

import psutil

CLIENT = "client"
"""The benchmark process itself (HTTP clients, decision polling, samplers)."""


def cpu_seconds(pid: int, *, children: bool = True) -> float:
    """CPU seconds of ``pid`` (and, with ``children``, its live children) so far; 0 once it
    is gone."""
    try:
        process = psutil.Process(pid)
        total = sum(process.cpu_times()[:2])
        for child in process.children(recursive=True) if children else ():
            try:
                total += sum(child.cpu_times()[:2])
            except psutil.Error:
                pass
        return float(total)
    except psutil.Error:
        return 0.0


class CpuMeter:
    """``start`` then ``stop``: each watched process's cores used in between."""

    def __init__(self, pids: dict[str, int]):
        self.pids = {**pids, CLIENT: os.getpid()}
        self._begin: dict[str, float] = {}
        self._t0 = 0.0

    def _seconds(self, label: str) -> float:
        # The benchmark's children are the stack itself, each measured on its own.
        return cpu_seconds(self.pids[label], children=label != CLIENT)

    def start(self) -> CpuMeter:
        self._t0 = time.perf_counter()
        self._begin = {label: self._seconds(label) for label in self.pids}
        return self

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._t0
        used = {label: self._seconds(label) - self._begin.get(label, 0.0) for label in self.pids}
        cores = {
            label: round(max(0.0, s) / wall, 3) if wall > 0 else 0.0 for label, s in used.items()
        }
        cores["total"] = round(sum(cores.values()), 3)
        cores["machine"] = float(os.cpu_count() or 1)
        return cores
