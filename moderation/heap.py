"""Garbage collection in the processes that hold models.

Once its models are loaded, a worker, or the API with the Perspective analyzer, holds some
400,000 long-lived objects (torch's modules, the tokenizer, the rules). CPython's full
collections walk every one of them, about 0.3 s on 2 cores, and they run in whichever
request or job happens to allocate at the time: after a start, the API's first
500-comment batch ran at a quarter of the rate of the next ones, and one batch in seven
paid it again. ``freeze_loaded`` collects once, then moves everything alive out of the
collector's sight (``gc.freeze``), so later collections walk only what requests and jobs
create. What is frozen is never collected: call it when a process has loaded what it
keeps for its lifetime, not per request.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_loaded() -> int:
    """Collect, then freeze what is alive; returns how many objects are frozen in all."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("%d objects frozen out of the garbage collector's full collections", frozen)
    return frozen
