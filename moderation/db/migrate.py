"""Alembic, driven from code: ``moderation db upgrade`` and start-up both call ``upgrade``;
``moderation db revision`` drafts the next migration with ``draft_revision``."""

from __future__ import annotations

import re
import tempfile
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
    cfg = alembic_config(engine.url.render_as_string(hide_password=False), script_location)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


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
