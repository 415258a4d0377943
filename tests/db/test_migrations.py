"""Alembic's migrations build exactly the schema the models declare, and run both ways."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from moderation.db import Base, make_engine, upgrade
from moderation.db.migrate import alembic_config, current_revision


def schema_drift(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def test_the_migrated_schema_is_the_models_schema(database_url):
    """A model change without its migration (or the reverse) fails here: write the
    migration (CONTRIBUTING.md, "Adding a migration")."""
    assert schema_drift(database_url) == []


def test_downgrade_to_base_and_upgrade_again(database_url):
    from alembic import command

    engine = make_engine(database_url)
    head = current_revision(engine)
    assert head is not None
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head
    engine.dispose()
    assert schema_drift(database_url) == []
