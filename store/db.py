"""Database engines and transactions for SQLite (the embedded default) and PostgreSQL.

Every write goes through `write_transaction`, which takes the database's write lock at the
start of the transaction (SQLite `BEGIN IMMEDIATE`), so a read-then-write never races.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event


def sqlite_url(data_dir: str | os.PathLike[str]) -> str:
    path = Path(data_dir)
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve() / 'chonai.db'}"


def normalise_url(url: str) -> str:
    """Accept the usual `postgres://` / `postgresql://` spellings and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # Autocommit at the driver: we issue BEGIN ourselves (pysqlite's implicit BEGIN is
        # deferred and would let two writers deadlock on upgrade).
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               isolation_level="AUTOCOMMIT", pool_size=8, max_overflow=8)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # an acknowledged append survives power loss
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA secure_delete=ON")  # shredded keys must not linger in free pages
            cur.close()

        return engine
    return create_engine(url, isolation_level="AUTOCOMMIT", pool_size=10, max_overflow=10,
                         pool_pre_ping=True,
                         # Server-side generic plans for IN lists can pick sequential scans.
                         connect_args={"connect_timeout": 5, "prepare_threshold": None})


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """One atomic, durable write; SQLite takes its write lock up front."""
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if is_sqlite(engine) else "BEGIN")
        try:
            yield conn
        except BaseException:
            conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")


@contextlib.contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection whose statements each see the latest committed state."""
    with engine.connect() as conn:
        yield conn
