"""What every worker process of ours shares, scoring and webhook alike.

* ``SteadyWorker``: RQ's in-process worker whose loop rides out a Redis outage. RQ retries
  its blocking dequeue while Redis is away, but a connection error anywhere else in its loop
  (recording the worker's state just before that dequeue, finishing a job) ends the loop, and
  the process then sits there taking no jobs. Its bookkeeping writes tolerate an outage, and
  ``work_until_stopped`` starts a loop that ended any other way than asked again.
* Children die with the worker: RQ forks its scheduler, and a fork inherits the worker's
  database sockets (``register_fork_hooks``). A child also starts with the default SIGTERM
  action: it inherits whatever handler the worker had at the fork, and RQ stops its scheduler
  with a SIGTERM that can arrive before the scheduler installs its own handler.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import redis
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.job import Job

log = logging.getLogger(__name__)


class SteadyWorker(SimpleWorker):
    """RQ's ``SimpleWorker`` (jobs run in this process) whose loop survives Redis outages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.drained = False
        """In burst mode, the loop ended as it should: nothing left to take, or suspended."""

    @property
    def stop_asked(self) -> bool:
        return bool(self._stop_requested or self._shutdown_requested_date is not None)

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        self.drained = result is None
        return result

    def check_for_suspension(self, burst: bool) -> None:
        try:
            super().check_for_suspension(burst)
        except StopRequested:  # `rq suspend` in burst mode: RQ ends the loop on purpose
            self.drained = True
            raise

    def unsubscribe(self) -> None:
        # RQ stops its command-channel thread, waits 1 s for it and then closes the
        # connection under it; the thread, still blocked in a read of up to 60 s, then dies
        # on the closed socket. Here the thread is told to stop first, the unsubscribe reply
        # wakes it, and it closes the connection itself when it leaves its loop.
        thread = self.pubsub_thread
        if thread is None:
            return
        channel = self.pubsub_channel_name
        self.log.info("Worker %s: unsubscribing from channel %s", self.name, channel)  # as RQ
        thread.stop()
        try:
            self.pubsub.unsubscribe()
        except redis.exceptions.RedisError:  # Redis away: its read fails and the loop ends
            pass
        thread.join(timeout=5)

    def set_state(self, state: str, pipeline: Any = None) -> None:
        # Bookkeeping for dashboards: RQ calls it before its own reconnecting dequeue, so a
        # Redis outage at that moment would end the work loop; the next call writes it.
        try:
            super().set_state(state, pipeline)
        except redis.exceptions.ConnectionError as exc:
            log.warning("worker %s: state %s not recorded (Redis: %s)", self.name, state, exc)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        try:
            super().heartbeat(timeout, pipeline)
        except redis.exceptions.ConnectionError as exc:
            log.warning("worker %s: RQ heartbeat not sent (Redis: %s)", self.name, exc)


def work_until_stopped(
    make_worker: Callable[[], SteadyWorker], *, burst: bool = False, max_wait: float = 30.0
) -> bool:
    """Run RQ's work loop until a stop is asked for (or, with ``burst``, the queues are empty).

    RQ ends its loop on any error it does not expect (Redis going away while a job is being
    finished, say) and the process would then sit there taking no jobs. Here a loop that
    ends any other way is logged and started again, with a fresh worker of the same name,
    after a pause that doubles up to ``max_wait`` seconds while it keeps failing. The
    children RQ forks (its scheduler) die with this process (``register_fork_hooks``)."""
    register_fork_hooks()
    worked, wait = False, 1.0
    while True:
        worker = make_worker()
        began = time.monotonic()
        try:
            worked = worker.work(burst=burst, logging_level="INFO", with_scheduler=True) or worked
        except redis.exceptions.RedisError as exc:  # raised by RQ's start-up or teardown
            log.warning("worker %s: work loop stopped by Redis: %s", worker.name, exc)
        except StopRequested:  # a stop asked for during start-up
            return worked
        if worker.stop_asked or (burst and worker.drained):
            return worked
        if time.monotonic() - began > 60:
            wait = 1.0
        log.error("worker %s: its work loop ended on an error; starting it again in %.0f s",
                  worker.name, wait)  # fmt: skip
        try:
            time.sleep(wait)  # a SIGTERM now reaches RQ's handler, which raises StopRequested
            worker.connection.delete(worker.key)  # so RQ's birth check takes the same name
        except StopRequested:
            return worked
        except redis.exceptions.RedisError:
            pass  # still down: the next start-up fails and waits again
        if worker.stop_asked:
            return worked
        wait = min(wait * 2, max_wait)


PR_SET_PDEATHSIG = 1
_forking_pid = 0
_fork_hooks_registered = False


def note_forking_pid() -> None:
    global _forking_pid
    _forking_pid = os.getpid()


def die_with_parent() -> None:
    """In a child this worker forks (RQ forks its scheduler), die when the worker dies.

    A fork inherits the worker's open database sockets. If the worker is killed (``kill -9``,
    the OOM killer) while a transaction holds row locks, a surviving child keeps the socket
    open, so the database never sees the client go and the locks block every other worker
    until the child exits. Linux delivers SIGKILL to the child the moment its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: nothing to set, the child lives as before
        return
    if os.getppid() != _forking_pid:  # the parent died before prctl took effect
        os._exit(1)


def start_child() -> None:
    """In a child just forked: a SIGTERM or SIGINT ends it until it installs its own handlers.

    Otherwise it would run the handler the worker had at the fork (RQ's, bound to a worker
    object the child does not run): a stop that RQ sends its scheduler in the moment after
    forking it was then swallowed, the scheduler ran on, and the worker waited for it forever."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    die_with_parent()


def register_fork_hooks() -> None:
    """Once per process: every child it forks (RQ's scheduler) starts with the default stop
    signals and dies when it dies."""
    global _fork_hooks_registered
    if not _fork_hooks_registered:
        os.register_at_fork(before=note_forking_pid, after_in_child=start_child)
        _fork_hooks_registered = True
