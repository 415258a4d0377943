"""The worker process: builds the runtime (models, rules) once, then runs RQ jobs in-process.

RQ's default ``Worker`` forks a child per job, which would load the models again for every
job; ``SimpleWorker`` runs jobs in this process, so scorers are loaded once and kept. A
maintenance thread sweeps pending comments that have no live job and watches the rules file.
"""

from __future__ import annotations

import logging
import os
import threading

from rq import SimpleWorker

from moderation.connections import connect, resolve_redis_url
from moderation.queue import scoring_queue, sweep_pending
from moderation.settings import Settings, get_settings
from moderation.webhooks import sweep_deliveries, webhook_queue
from workers.runtime import Runtime, set_runtime

log = logging.getLogger(__name__)


class ModerationWorker(SimpleWorker):
    """Runs jobs in the worker process itself so that models stay loaded between jobs."""


class Maintenance(threading.Thread):
    def __init__(self, runtime: Runtime):
        super().__init__(name="moderation-maintenance", daemon=True)
        self.runtime = runtime
        self.stopping = threading.Event()

    def run(self) -> None:
        rt = self.runtime
        # A connection of its own, so the worker's blocking dequeue never delays a sweep.
        conn = connect(resolve_redis_url(rt.settings.redis_url, rt.settings.var_dir))
        while not self.stopping.wait(rt.settings.sweep_interval_seconds):
            try:
                rt.rulebook.current()
            except Exception:  # noqa: BLE001 - keep the thread alive whatever the file holds
                log.exception("rules check failed")
            try:
                sweep_pending(session_factory=rt.session_factory, conn=conn, settings=rt.settings)
                sweep_deliveries(
                    session_factory=rt.session_factory, conn=conn, settings=rt.settings
                )
            except Exception as exc:  # noqa: BLE001 - Redis or the database may be down for a while
                log.warning("sweep failed (will retry): %s", exc)

    def stop(self) -> None:
        self.stopping.set()


def run_worker(
    settings: Settings | None = None, *, burst: bool = False, name: str | None = None
) -> bool:
    settings = settings or get_settings()
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s worker[{os.getpid()}] %(levelname)s %(name)s: %(message)s",
    )
    runtime = Runtime.build(settings)
    set_runtime(runtime)
    maintenance = Maintenance(runtime)
    maintenance.start()
    worker = ModerationWorker(
        [scoring_queue(runtime.redis, settings), webhook_queue(runtime.redis, settings)],
        connection=runtime.redis,
        name=name,
    )
    try:
        return worker.work(burst=burst, logging_level="INFO", with_scheduler=True)
    finally:
        maintenance.stop()
