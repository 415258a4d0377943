"""The webhook worker: delivers the outbox to the publisher, in a process of its own.

It serves only ``MODERATION_WEBHOOK_QUEUE`` and builds no scorers and no rules (a database
engine and a Redis connection are all a delivery needs), so it starts in about a second and
stays small. Scoring workers do not serve the webhook queue: a publisher endpoint that hangs
or answers slowly holds up this process (each attempt for at most
``MODERATION_WEBHOOK_TIMEOUT_SECONDS``), never a decision. ``moderation serve`` starts
``MODERATION_WEBHOOK_WORKERS`` of them (``moderation worker --webhooks``); more of them
deliver more slow attempts at once.

RQ's scheduler runs in it for the webhook queue (retries are scheduled jobs). A maintenance
thread publishes its heartbeat (``moderation.heartbeats``, under the webhook queue's name),
puts the delivery jobs of webhook workers whose heartbeat expired back in the queue (a worker
killed mid-POST: its delivery is sent again, same id, bytes and signature, within the
heartbeat TTL plus a sweep interval), and queues deliveries that are due but have no live
job (Redis was down when they were recorded, or their job was lost).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

from moderation import heartbeats, logs, metrics, webhooks
from moderation.connections import connect, resolve_redis_url
from moderation.heartbeats import Heartbeat, WorkerState
from moderation.queue import reap_dead_workers
from moderation.settings import Settings, get_settings
from workers import process
from workers.webhook_runtime import WebhookRuntime, set_webhook_runtime

log = logging.getLogger(__name__)


def heartbeat(name: str, settings: Settings) -> Heartbeat:
    """This worker's heartbeat, kept apart from the scoring workers' (under the webhook queue's
    name), so ``/readyz``, which counts workers that decide comments, never counts it."""
    return Heartbeat(
        name=name,
        pid=os.getpid(),
        host=socket.gethostname(),
        queues=[settings.webhook_queue],
        state=WorkerState.READY,
        started_at=heartbeats.now_iso(),
    )


class WebhookMaintenance(threading.Thread):
    """Keeps this worker's heartbeat fresh and, every sweep interval, puts the delivery jobs of
    webhook workers whose heartbeat expired (``kill -9`` mid-POST) back at the front of the
    queue, and queues due deliveries that have no live job."""

    def __init__(self, runtime: WebhookRuntime, beat: Heartbeat):
        super().__init__(name="moderation-webhook-maintenance", daemon=True)
        self.runtime = runtime
        self.beat = beat
        self.stopping = threading.Event()
        self.conn = connect(resolve_redis_url(runtime.settings.redis_url, runtime.settings.var_dir))

    def beat_now(self) -> None:
        settings = self.runtime.settings
        heartbeats.publish(
            self.conn,
            queue=settings.webhook_queue,
            beat=self.beat,
            ttl_seconds=settings.worker_heartbeat_ttl_seconds,
        )

    def run(self) -> None:
        settings = self.runtime.settings
        every = min(settings.sweep_interval_seconds, settings.worker_heartbeat_ttl_seconds / 3)
        last_sweep = time.monotonic()  # the first sweep one interval after the start
        while not self.stopping.wait(every):
            try:
                self.beat_now()
            except Exception as exc:  # noqa: BLE001 - Redis may be down for a while
                log.warning("heartbeat not published (will retry): %s", exc)
            if time.monotonic() - last_sweep < settings.sweep_interval_seconds:
                continue
            last_sweep = time.monotonic()
            try:
                self.sweep()
            except Exception as exc:  # noqa: BLE001 - Redis or the database may be down a while
                log.warning("webhook sweep failed (will retry): %s", exc)

    def sweep(self) -> None:
        rt = self.runtime
        queue = webhooks.webhook_queue(self.conn, rt.settings)
        live = heartbeats.live_names(self.conn, queue=rt.settings.webhook_queue)
        if reaped := reap_dead_workers([queue], live=live):
            log.warning("%d delivery job(s) of dead webhook workers queued again", reaped)
        webhooks.sweep_deliveries(
            session_factory=rt.session_factory, conn=self.conn, settings=rt.settings
        )

    def stop(self) -> None:
        """Stop, and withdraw the heartbeat so the worker is gone at once (a clean stop)."""
        self.stopping.set()
        try:
            heartbeats.withdraw(
                self.conn, queue=self.runtime.settings.webhook_queue, name=self.beat.name
            )
        except Exception as exc:  # noqa: BLE001 - it expires on its own
            log.warning("heartbeat not withdrawn (it expires on its own): %s", exc)


def run_webhook_worker(
    settings: Settings | None = None, *, burst: bool = False, name: str | None = None
) -> bool:
    settings = settings or get_settings()
    logs.configure(
        log_format=settings.log_format,
        log_text=settings.log_text,
        process=f"webhook-worker[{os.getpid()}]",
    )
    runtime = WebhookRuntime.build(settings)
    set_webhook_runtime(runtime)
    name = name or uuid.uuid4().hex  # the RQ worker's name is its heartbeat's
    maintenance = WebhookMaintenance(runtime, heartbeat(name, settings))
    maintenance.beat_now()  # live before its first job, so no sweeper reaps that job
    maintenance.start()
    flusher = metrics.Flusher(runtime.redis, settings.queue)
    flusher.start()

    def make_worker() -> process.SteadyWorker:
        queue = webhooks.webhook_queue(runtime.redis, settings)
        return process.SteadyWorker([queue], connection=runtime.redis, name=name)

    log.info("webhook worker %s on queue %r (pid %d)", name, settings.webhook_queue, os.getpid())
    try:
        return process.work_until_stopped(make_worker, burst=burst)
    finally:
        maintenance.stop()
        flusher.stop()
        runtime.engine.dispose()
