"""Alembic environment: runs revisions on the connection `store.migrate` hands over."""

from alembic import context
from sqlmodel import SQLModel

import store.applications  # noqa: F401  (each import registers its tables on SQLModel.metadata)
import store.blobs  # noqa: F401
import store.broadcasts  # noqa: F401
import store.documents  # noqa: F401
import store.kpi  # noqa: F401
import store.locations  # noqa: F401
import store.sealed  # noqa: F401
import store.schema  # noqa: F401
import store.staff  # noqa: F401

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=SQLModel.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
