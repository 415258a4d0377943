"""Alembic's migrations build exactly the schema the models declare, and run both ways."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from moderation.db import Base, make_engine, upgrade
from moderation.db.migrate import MIGRATIONS, current_revision, draft_revision


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
    from moderation.db.migrate import downgrade

    engine = make_engine(database_url)
    head = current_revision(engine)
    assert head is not None
    downgrade(engine, "base")
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head
    engine.dispose()
    assert schema_drift(database_url) == []


def copy_of_the_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_draft_revision_numbers_the_next_migration_after_the_last(tmp_path):
    migrations = copy_of_the_migrations(tmp_path)
    last = max(p.name for p in (migrations / "versions").glob("0*.py"))
    path = draft_revision("add nothing yet", script_location=migrations)
    number = int(last[:4]) + 1
    assert path.name == f"{number:04d}_add_nothing_yet.py"
    text = path.read_text()
    assert f"down_revision = '{last[:4]}'" in text
    upgrade_body = text.split("def upgrade() -> None:")[1].split("def downgrade")[0]
    assert "op." not in upgrade_body  # the models add nothing today


def test_draft_revision_writes_what_the_models_add(tmp_path):
    """In a process of its own, so the column added to the models stays there."""
    migrations = copy_of_the_migrations(tmp_path)
    code = (
        "import sqlalchemy as sa, sys; from pathlib import Path\n"
        "from moderation.db import Base\n"
        "from moderation.db.migrate import draft_revision\n"
        "Base.metadata.tables['comments'].append_column(sa.Column('language', sa.String(8)))\n"
        "print(draft_revision('comment language', script_location=Path(sys.argv[1])))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(migrations)], capture_output=True, text=True, check=True
    ).stdout
    text = Path(out.strip().splitlines()[-1]).read_text()
    assert "batch_op.add_column(sa.Column('language', sa.String(length=8)" in text
    assert "batch_op.drop_column('language')" in text
