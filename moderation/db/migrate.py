"""Alembic, driven from code: ``moderation db upgrade`` and start-up both call ``upgrade``;
``moderation db revision`` drafts the next migration with ``draft_revision``."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str, script_location: Path = MIGRATIONS) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head", *, script_location: Path = MIGRATIONS) -> None:
    _migrate(engine, lambda cfg: command.upgrade(cfg, revision), script_location)


def downgrade(engine: Engine, revision: str, *, script_location: Path = MIGRATIONS) -> None:
    _migrate(engine, lambda cfg: command.downgrade(cfg, revision), script_location)


def _migrate(engine: Engine, run: Callable[[Config], None], script_location: Path) -> None:
    """Run migrations in one transaction. On SQLite, whose tables are rebuilt to change a
    key, foreign keys are off meanwhile (SQLite's own procedure for schema changes: with
    them on, dropping the old copy of a table would cascade into its children) and checked
    all at once before the commit."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False), script_location)
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # outside any transaction: SQLite ignores this pragma inside one
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                run(cfg)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def draft_revision(message: str, *, script_location: Path = MIGRATIONS) -> Path:
    """Write the next migration (``0004_<message>.py`` after ``0003_...``), drafted by
    Alembic from what the models declare beyond the migrated schema; returns its path.
    Read it before committing: autogenerate misses renames and data steps."""
    from moderation.db.session import make_engine

    numbers = [
        int(match[1])
        for path in (script_location / "versions").glob("*.py")
        if (match := re.match(r"(\d+)_", path.name))
    ]
    rev_id = f"{max(numbers, default=0) + 1:04d}"
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'draft.db'}"
        engine = make_engine(url)
        try:
            upgrade(engine, script_location=script_location)
            with engine.begin() as conn:
                cfg = alembic_config(url, script_location)
                cfg.attributes["connection"] = conn
                script = command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)
        finally:
            engine.dispose()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)
