"""The migrations build exactly the schema the table models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import migrations.env_tables  # noqa: F401  (every table module, as migrations/env.py sees them)
from store.db import make_engine
from store.migrate import upgrade


def test_migrated_schema_matches_the_models(database_url) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert differences == []


def test_a_click_finds_its_receipt_through_an_index(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    upgrade(engine)
    with engine.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT * FROM broadcast_receipts "
            "WHERE broadcast_id = 1 AND platform_user = 'U1'").fetchall()
    engine.dispose()
    assert "broadcast_id=? AND platform_user=?" in " ".join(str(row[-1]) for row in plan)
