"""Apply the Alembic revisions in migrations/ to a database (SQLite or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

import migrations


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to run on every start."""
    config = alembic_config()
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="SERIALIZABLE")  # transactional DDL
        if engine.dialect.name == "postgresql":
            # Two instances starting together must not both create the tables.
            conn.exec_driver_sql("SELECT pg_advisory_lock(7240001)")
        try:
            config.attributes["connection"] = conn
            command.upgrade(config, "heads")
            conn.commit()
        finally:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_unlock(7240001)")


def current(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return ",".join(sorted(heads)) or None
