"""The engine's per-connection settings, read back from the real database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from moderation.db import make_engine
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
