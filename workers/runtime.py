"""What a worker process builds once and keeps between jobs: database engine, Redis
connection, scorers (models) and the active rules. It also sets torch's threads
(``torch_threads``), so that workers sharing a machine do not fight over its cores."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from moderation.connections import connect, resolve_redis_url
from moderation.db import make_engine, make_session_factory
from moderation.db.session import read_only
from moderation.exceptions import RulesError
from moderation.policy import RuleSet
from moderation.rulebook import Rulebook, Rulebooks
from moderation.scoring import ScorerSet, build_scorers, set_torch_threads
from moderation.settings import Settings, get_settings

log = logging.getLogger(__name__)

SCORER_LOADS_KEY = "moderation:stats:scorer-loads"
"""Hash of ``host:pid`` → how many times that process built its scorers (should be 1)."""


def torch_threads(settings: Settings, cores: int | None = None) -> int:
    """``MODERATION_TORCH_THREADS``, or this machine's cores shared by ``MODERATION_WORKERS``
    workers (at least one thread each)."""
    if settings.torch_threads:
        return settings.torch_threads
    if cores is None:
        affinity = getattr(os, "sched_getaffinity", None)
        cores = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    return max(1, cores // max(1, settings.workers))


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    redis: Redis
    scorers: ScorerSet
    rulebooks: Rulebooks

    @property
    def rulebook(self) -> Rulebook:
        """The deployment's rules (``MODERATION_RULES``), which sites without their own use."""
        return self.rulebooks.default

    def rules_for(self, session: Session) -> Rulebook:
        """The rulebook of the session's site: its own file, else the deployment's."""
        from moderation import sites

        return self.rulebooks.for_path(sites.rules_path(sites.site_of(session), self.settings))

    def ruleset_of(self, site: str) -> RuleSet:
        """The rules deciding ``site``'s comments now. Call it with no transaction of the job
        open: the first load of a file, or a reload, stores the new version in a session of
        its own, which on SQLite waits for the write lock, so it would wait on the job's own
        transaction until the busy timeout and fail with "database is locked"."""
        with read_only(self.session_factory, site) as session:
            book = self.rules_for(session)
        return book.current()

    @classmethod
    def build(cls, settings: Settings | None = None, *, redis_conn: Redis | None = None) -> Runtime:
        settings = settings or get_settings()
        conn = redis_conn or connect(resolve_redis_url(settings.redis_url, settings.var_dir))
        return RuntimeLoader(settings, conn).build()


class LoadError(Exception):
    """A step of building the runtime failed; ``step`` is ``scorers``, ``rules`` or
    ``database``."""

    def __init__(self, step: str, message: str):
        self.step = step
        super().__init__(message)


class RuntimeLoader:
    """Builds the runtime in steps, keeping the scorers when the rules fail to load, so a
    worker that tries again (``workers.worker``) loads its models only once."""

    def __init__(self, settings: Settings, conn: Redis):
        self.settings = settings
        self.conn = conn
        self.scorers: ScorerSet | None = None

    def build(self) -> Runtime:
        """The runtime; raises ``LoadError`` (from the step's own error) when a step fails."""
        settings, conn = self.settings, self.conn
        if self.scorers is None:
            log.info("loading scorers %s (pid %d)", settings.scorer_names, os.getpid())
            try:
                scorers = build_scorers(settings, redis=conn)
            except Exception as exc:
                raise LoadError("scorers", _describe(exc)) from exc
            set_torch_threads(torch_threads(settings), owner="worker")
            conn.hincrby(SCORER_LOADS_KEY, f"{socket.gethostname()}:{os.getpid()}", 1)
            self.scorers = scorers
        engine = make_engine(settings.effective_database_url)
        try:
            session_factory = make_session_factory(engine)
            rulebooks = Rulebooks(
                settings.rules,
                available_scores=self.scorers.labels,
                session_factory=session_factory,
                check_interval=settings.rules_reload_interval_seconds,
            )
            rulebooks.default.load()
        except Exception as exc:
            engine.dispose()
            # The first load stores the version: a database that is down fails it too.
            step = "database" if isinstance(exc, SQLAlchemyError) else "rules"
            raise LoadError(step, _describe(exc)) from exc
        return Runtime(settings, engine, session_factory, conn, self.scorers, rulebooks)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, RulesError):
        return "\n".join(exc.errors)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    """This process's runtime, built on first use (the worker builds it before its first job)."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime.build()
    return _runtime


def set_runtime(runtime: Runtime | None) -> None:
    global _runtime
    _runtime = runtime
