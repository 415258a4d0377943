"""The webhook worker: delivers the outbox to the publisher, in a process of its own.

It serves only ``MODERATION_WEBHOOK_QUEUE`` and builds no scorers and no rules (a database
engine and a Redis connection are all a delivery needs), so it starts in about a second and
stays small. Scoring workers do not serve the webhook queue: a publisher endpoint that hangs
or answers slowly holds up this process (each attempt for at most
``MODERATION_WEBHOOK_TIMEOUT_SECONDS``), never a decision. ``moderation serve`` starts
``MODERATION_WEBHOOK_WORKERS`` of them (``moderation worker --webhooks``); more of them
deliver more slow attempts at once.

RQ's scheduler runs in it for the webhook queue (retries are scheduled jobs), and a sweeper
thread queues deliveries that are due but have no live job (Redis was down when they were
recorded, or their job was lost).
"""

from __future__ import annotations

import logging
import os
import threading

from rq import SimpleWorker

from moderation import webhooks
from moderation.connections import connect, resolve_redis_url
from moderation.settings import Settings, get_settings
from workers.webhook_runtime import WebhookRuntime, set_webhook_runtime
from workers.worker import _die_with_parent, _note_forking_pid

log = logging.getLogger(__name__)


class DeliverySweeper(threading.Thread):
    """Queues the deliveries that are due and have no live job, every sweep interval."""

    def __init__(self, runtime: WebhookRuntime):
        super().__init__(name="moderation-webhook-sweeper", daemon=True)
        self.runtime = runtime
        self.stopping = threading.Event()

    def run(self) -> None:
        rt = self.runtime
        # A connection of its own, so the worker's blocking dequeue never delays a sweep.
        conn = connect(resolve_redis_url(rt.settings.redis_url, rt.settings.var_dir))
        while not self.stopping.wait(rt.settings.sweep_interval_seconds):
            try:
                webhooks.sweep_deliveries(
                    session_factory=rt.session_factory, conn=conn, settings=rt.settings
                )
            except Exception as exc:  # noqa: BLE001 - Redis or the database may be down a while
                log.warning("webhook sweep failed (will retry): %s", exc)

    def stop(self) -> None:
        self.stopping.set()


_fork_hooks_registered = False


def _register_fork_hooks() -> None:
    """The scoring worker's hook: a child RQ forks (the scheduler) dies with this process, so
    it never keeps a killed worker's database socket (and its locks) open."""
    global _fork_hooks_registered
    if not _fork_hooks_registered:
        os.register_at_fork(before=_note_forking_pid, after_in_child=_die_with_parent)
        _fork_hooks_registered = True


def run_webhook_worker(
    settings: Settings | None = None, *, burst: bool = False, name: str | None = None
) -> bool:
    settings = settings or get_settings()
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s webhook-worker[{os.getpid()}] %(levelname)s %(name)s: %(message)s",
    )
    _register_fork_hooks()
    runtime = WebhookRuntime.build(settings)
    set_webhook_runtime(runtime)
    sweeper = DeliverySweeper(runtime)
    sweeper.start()
    worker = SimpleWorker(
        [webhooks.webhook_queue(runtime.redis, settings)], connection=runtime.redis, name=name
    )
    log.info("webhook worker on queue %r (pid %d)", settings.webhook_queue, os.getpid())
    try:
        return worker.work(burst=burst, logging_level="INFO", with_scheduler=True)
    finally:
        sweeper.stop()
        runtime.engine.dispose()
