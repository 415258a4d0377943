"""The allocator setting that keeps workers from growing between passes, in real processes."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = r"""
import sys
import numpy as np

def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 1e6

if sys.argv[1] == "fixed":
    from moderation.scoring._memory import fix_mmap_threshold
    assert fix_mmap_threshold()
# After one big block is freed, glibc by default raises its mmap threshold past that size
# (up to 32 MB), so later blocks of a few MB come from the heap.
big = np.ones(16 << 20, dtype=np.uint8)
del big
base = rss_mb()
blocks, pins = [], []
for _ in range(100):  # 200 MB of 2 MB tensors, each followed by a small block that stays
    blocks.append(np.ones(2 << 20, dtype=np.uint8))
    pins.append(np.ones(1000))
held = rss_mb()
del blocks
print(round(held - base), round(rss_mb() - base))
"""


def probe(mode: str) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    held, after = (int(x) for x in out)
    assert held >= 190, out  # the blocks were really there
    return held, after


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_tensors_go_back_to_the_system_once_the_threshold_is_fixed():
    _, kept_by_default = probe("default")
    _, kept_when_fixed = probe("fixed")
    assert kept_by_default >= 150  # glibc's default: the freed blocks stay in the heap
    assert kept_when_fixed <= 10  # fixed at 1 MB: every one of them went back
