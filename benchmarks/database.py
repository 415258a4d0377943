"""A fresh database for each stack: a SQLite file in the run's folder, or a new database on
the PostgreSQL server named by ``--database`` (dropped again at the end)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


class Databases:
    def __init__(self, spec: str, workdir: Path):
        self.spec = spec
        self.workdir = workdir
        self.created: list[str] = []
        if spec != "sqlite" and not spec.startswith("postgresql"):
            raise ValueError(f"--database: 'sqlite' or a postgresql URL, not {spec!r}")

    @property
    def kind(self) -> str:
        return "sqlite" if self.spec == "sqlite" else "postgresql"

    def fresh(self, label: str) -> str:
        """The URL of an empty database of its own (the stack migrates it)."""
        if self.spec == "sqlite":
            return f"sqlite:///{(self.workdir / f'{label}.db').resolve()}"
        name = f"moderation_bench_{os.getpid()}_{label}".replace("-", "_")
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return make_url(self.spec).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self.created:
            self._admin(*(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in self.created))
            self.created.clear()

    def _admin(self, *statements: str) -> None:
        engine = create_engine(self.spec, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for statement in statements:
                    conn.execute(text(statement))
        finally:
            engine.dispose()
