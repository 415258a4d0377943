"""What a webhook worker builds once and keeps between jobs: a database engine and a Redis
connection. No scorers and no rules: a delivery needs neither. ``deliver_webhook`` is the RQ
job (queued as ``workers.jobs.deliver_webhook``, which is this function)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from moderation import webhooks
from moderation.connections import connect, resolve_redis_url
from moderation.db import make_engine, make_session_factory
from moderation.settings import Settings, get_settings


@dataclass
class WebhookRuntime:
    """What a delivery needs, built once per process: no scorers, no rules."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    redis: Redis

    @classmethod
    def build(
        cls, settings: Settings | None = None, *, redis_conn: Redis | None = None
    ) -> WebhookRuntime:
        settings = settings or get_settings()
        engine = make_engine(settings.effective_database_url)
        conn = redis_conn or connect(resolve_redis_url(settings.redis_url, settings.var_dir))
        return cls(settings, engine, make_session_factory(engine), conn)


_runtime: WebhookRuntime | None = None


def get_webhook_runtime() -> WebhookRuntime:
    """This process's webhook runtime, built on first use."""
    global _runtime
    if _runtime is None:
        _runtime = WebhookRuntime.build()
    return _runtime


def set_webhook_runtime(runtime: WebhookRuntime | None) -> None:
    global _runtime
    _runtime = runtime


def deliver_webhook(delivery_id: str) -> dict[str, Any] | None:
    """One delivery attempt to the publisher (the RQ job ``workers.jobs.deliver_webhook``);
    schedules its own retry."""
    rt = get_webhook_runtime()
    result = webhooks.deliver(
        session_factory=rt.session_factory,
        conn=rt.redis,
        settings=rt.settings,
        delivery_id=delivery_id,
    )
    return None if result is None else {"attempt": result.number, "delivered": result.delivered}
