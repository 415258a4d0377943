"""Engine and session factory. One engine per process; sessions are passed in explicitly.

On SQLite every transaction takes the write lock when it begins (``BEGIN IMMEDIATE``),
waiting up to the busy timeout for it. A transaction that began as a reader and then
writes cannot wait: in WAL mode, if another connection committed since its first read,
SQLite fails the write at once with "database is locked", whatever the timeout. Sessions
that only read can say so (``read_only``) and begin a plain deferred transaction, which
never waits for writers.

``database_unavailable`` tells a busy or unreachable database apart from other errors,
so that callers answer "retry later" instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from moderation.exceptions import DatabaseUnavailableError

SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
"""How long a SQLite writer waits for the write lock; ``?timeout=S`` in the URL sets another."""

POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
"""How long connecting to PostgreSQL may take before the attempt fails (libpq waits for the
operating system otherwise, minutes for a host that does not answer); ``?connect_timeout=S``
in the URL sets another."""

READ_ONLY = "moderation_read_only"
"""Execution option: this connection's transactions only read (SQLite: ``BEGIN DEFERRED``)."""


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        timeout = float(parsed.query.get("timeout", SQLITE_BUSY_TIMEOUT_SECONDS))  # type: ignore[arg-type]
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": timeout})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            # WAL lets the API read while a worker writes; FKs are off by default in SQLite.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            cur.close()
            # sqlite3 would begin transactions itself, late (before the first write) and
            # deferred; SQLAlchemy's "begin" below does it instead (the pysqlite recipe).
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            read_only = conn.get_execution_options().get(READ_ONLY, False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        # The server probes each client socket that has been quiet for 30 s, so the locks of
        # a worker whose machine vanished mid-transaction are released within about a minute
        # instead of the kernel's two hours.
        connect_args["options"] = (
            "-c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=3"
        )
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_SECONDS
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, connect_args=connect_args
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def read_only(factory: sessionmaker[Session], site: str | None = None) -> Session:
    """A session whose transactions only read: on SQLite they never wait for the write lock.
    ``site``: the site whose rows it reads (``moderation.db.scoping``; default: the default
    site)."""
    from moderation.db.scoping import site_session

    options = {READ_ONLY: True}
    if site is None:
        return factory(execution_options=options)
    return site_session(factory, site, execution_options=options)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# SQLSTATE classes and codes of PostgreSQL errors that mean "busy, try again"; any other
# operational error (connection refused, closed, server shutting down) means unreachable.
_PG_BUSY_STATES = {
    "53300",  # too_many_connections
    "55P03",  # lock_not_available
    "57014",  # query_canceled (statement_timeout, lock_timeout)
    "40001",  # serialization_failure
    "40P01",  # deadlock_detected
}
_SQLITE_BUSY_MESSAGES = ("database is locked", "database table is locked", "database is busy")
_SQLITE_UNREACHABLE_MESSAGES = (
    "unable to open database file",
    "disk i/o error",
    "readonly database",
    "database or disk is full",
    "locking protocol",
)


def database_unavailable(exc: BaseException) -> DatabaseUnavailableError | None:
    """``exc`` as a busy or unreachable database, or ``None`` when it is another error (a
    constraint, a bug in a statement) that retrying would not cure."""
    if isinstance(exc, DatabaseUnavailableError):
        return exc
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection became free in time
        return DatabaseUnavailableError("no database connection became free in time", busy=True)
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    orig = exc.orig
    detail = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    module = type(orig).__module__
    if module.startswith("sqlite3"):
        if not isinstance(exc, sa_exc.OperationalError):
            return None
        busy = any(m in detail.lower() for m in _SQLITE_BUSY_MESSAGES)
        if busy or any(m in detail.lower() for m in _SQLITE_UNREACHABLE_MESSAGES):
            return DatabaseUnavailableError(f"SQLite: {detail}", busy=busy)
        return None  # a syntax error, a missing table: a bug or an unmigrated database
    label = "PostgreSQL" if module.startswith("psycopg") else type(orig).__name__
    state = getattr(orig, "sqlstate", None)
    if state in _PG_BUSY_STATES:
        return DatabaseUnavailableError(f"{label}: {detail}", busy=True)
    unreachable = exc.connection_invalidated or (
        isinstance(exc, sa_exc.InterfaceError | sa_exc.OperationalError)
        and (state is None or state[:2] in ("08", "57"))
    )
    if unreachable:
        return DatabaseUnavailableError(f"{label}: {detail}", busy=False)
    return None
