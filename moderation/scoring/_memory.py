"""Give the models' large transient tensors back to the system when they are freed.

A pass over long comments allocates attention scores and hidden states of tens of MB and
frees them at once. glibc serves blocks over its mmap threshold with ``mmap`` and returns
them on ``free``, but it raises that threshold to the size of every such block freed, so after
the first passes the big tensors come from the heap, whose freed space it rarely returns: a
worker grew from about 640 MB after loading to 1.1 GB. Fixing the threshold at 1 MB (glibc's
``M_MMAP_THRESHOLD``, the same as ``MALLOC_MMAP_THRESHOLD_=1048576``) kept a worker that scored
and explained 300 real comments at 740 MB to 850 MB peak instead of 920 MB to 1.1 GB, at the
same speed. A lower threshold (64 KB) was as small but four times slower at occlusion.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

MMAP_THRESHOLD_BYTES = 1 << 20
_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Set glibc's mmap threshold (once per process is enough); False where there is no glibc
    (macOS, musl), which is harmless: those allocators are left as they are."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, threshold))
    if not ok:
        log.warning("mallopt(M_MMAP_THRESHOLD, %d) failed: memory may grow", threshold)
    return ok
