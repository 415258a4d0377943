"""The engine's per-connection settings, read back from the real database."""

from __future__ import annotations

import socket
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from moderation.articles import upsert_article
from moderation.db import Article, Comment, make_engine, make_session_factory, upgrade
from moderation.db.session import database_unavailable, read_only
from tests.conftest import TEST_PG_URL


@pytest.mark.skipif(not TEST_PG_URL, reason="MODERATION_TEST_DATABASE_URL is not set")
def test_postgres_probes_quiet_clients_so_a_vanished_workers_locks_are_released():
    engine = make_engine(TEST_PG_URL)
    try:
        with engine.connect() as conn:
            shown = {
                name: conn.execute(text(f"SHOW {name}")).scalar()
                for name in (
                    "tcp_keepalives_idle",
                    "tcp_keepalives_interval",
                    "tcp_keepalives_count",
                )
            }
    finally:
        engine.dispose()
    assert shown == {"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10",
                     "tcp_keepalives_count": "3"}  # fmt: skip


def test_sqlite_waits_for_the_write_lock_instead_of_failing_at_once(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'moderation.db'}")
    try:
        with engine.connect() as conn:
            busy = conn.execute(text("PRAGMA busy_timeout")).scalar()
            journal = conn.execute(text("PRAGMA journal_mode")).scalar()
    finally:
        engine.dispose()
    assert (busy, journal) == (30000, "wal")


# --- SQLite: the write lock up front ---------------------------------------------------


def _other_writer(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection that gives up at once when the write lock is taken."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    return conn


def test_sqlite_transactions_take_the_write_lock_when_they_begin(tmp_path: Path):
    path = tmp_path / "moderation.db"
    engine = make_engine(f"sqlite:///{path}")
    other = _other_writer(path)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))  # a transaction that has only read so far
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again once it ended
        other.execute("ROLLBACK")
    finally:
        other.close()
        engine.dispose()


def test_sqlite_readers_say_so_and_never_wait_for_writers(tmp_path: Path):
    path = tmp_path / "moderation.db"
    engine = make_engine(f"sqlite:///{path}?timeout=0.2")
    upgrade(engine)
    other = _other_writer(path)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with read_only(make_session_factory(engine)) as session:
            assert session.scalar(select(func.count(Comment.id))) == 0
        with pytest.raises(OperationalError, match="database is locked") as err:
            with make_session_factory(engine)() as session:
                session.scalar(select(func.count(Comment.id)))
        unavailable = database_unavailable(err.value)
        assert unavailable is not None and unavailable.busy
        assert str(unavailable) == "SQLite: database is locked"
    finally:
        other.close()
        engine.dispose()


def test_a_read_then_a_write_in_one_transaction_waits_instead_of_failing(tmp_path: Path):
    # The failure of issue #13 (a batch retried in savepoints): a transaction read, another
    # connection committed, then the first one wrote. Begun deferred, SQLite refuses that
    # write at once ("database is locked", whatever the timeout); with the lock taken up
    # front, the other connection waits instead.
    path = tmp_path / "moderation.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    factory = make_session_factory(engine)
    errors: list[BaseException] = []

    def other_request() -> None:
        try:
            with factory() as session:
                upsert_article(session=session, article_id="b", title="B", body="b")
                session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    try:
        with factory() as session, session.begin_nested():
            assert session.get(Article, ("default", "a")) is None  # the read
            thread = threading.Thread(target=other_request)
            thread.start()
            thread.join(0.3)  # it waits for our lock (or, without it, commits now)
            upsert_article(session=session, article_id="a", title="A", body="a")  # the write
            session.commit()
        thread.join()
        with factory() as session:
            assert sorted(session.scalars(select(Article.id))) == ["a", "b"]
    finally:
        engine.dispose()
    assert errors == []


def test_sqlite_busy_timeout_comes_from_the_url(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'moderation.db'}?timeout=2.5")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 2500
    finally:
        engine.dispose()
    assert (tmp_path / "sub" / "moderation.db").exists()


# --- which errors mean "retry later" -------------------------------------------------


def test_a_database_nobody_listens_on_is_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connecting is refused
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
    try:
        with pytest.raises(OperationalError) as err:
            engine.connect()
    finally:
        engine.dispose()
    unavailable = database_unavailable(err.value)
    assert unavailable is not None and not unavailable.busy
    assert str(unavailable).startswith("PostgreSQL: connection failed: ")
    assert "Connection refused" in str(unavailable)


def test_a_postgres_server_that_never_answers_fails_the_connect_in_time():
    # A listener that accepts and then says nothing, as a host cut off mid-network would.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres?connect_timeout=1"
        engine = make_engine(url)
        try:
            with pytest.raises(OperationalError) as err:
                engine.connect()
        finally:
            engine.dispose()
    unavailable = database_unavailable(err.value)
    assert unavailable is not None and not unavailable.busy


@pytest.mark.skipif(not TEST_PG_URL, reason="MODERATION_TEST_DATABASE_URL is not set")
def test_postgres_connections_give_up_connecting_after_ten_seconds():
    engine = make_engine(TEST_PG_URL)
    try:
        with engine.connect() as conn:
            params = conn.connection.dbapi_connection.info.get_parameters()  # type: ignore[union-attr]
    finally:
        engine.dispose()
    assert params["connect_timeout"] == "10"


def test_constraint_errors_and_bugs_are_not_outages(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'moderation.db'}")
    upgrade(engine)
    try:
        with engine.connect() as conn:
            with pytest.raises(IntegrityError) as duplicate:
                conn.execute(text("INSERT INTO articles (id) VALUES ('a'), ('a')"))
            with pytest.raises(OperationalError) as bug:
                conn.execute(text("SELEC 1"))
    finally:
        engine.dispose()
    assert database_unavailable(duplicate.value) is None
    assert database_unavailable(bug.value) is None  # an OperationalError to sqlite3, still a bug
    assert database_unavailable(ValueError("x")) is None
    pool_timeout = SATimeoutError("QueuePool limit of size 10 overflow 20 reached")
    unavailable = database_unavailable(pool_timeout)
    assert unavailable is not None and unavailable.busy
