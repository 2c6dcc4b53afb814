"""Time-limited leases in the database: one instance at a time runs a singleton job, and a
dead instance's lease is taken over once it expires."""

from __future__ import annotations

import time

from sqlalchemy import Engine, select

from store.db import is_sqlite, write_transaction
from store.schema import leases


def acquire(engine: Engine, name: str, owner: str, seconds: float) -> bool:
    """Take or renew the lease; True while `owner` holds it."""
    now = time.time()
    with write_transaction(engine) as conn:
        query = select(leases.c.owner, leases.c.until).where(leases.c.name == name)
        if not is_sqlite(conn):
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            if not is_sqlite(conn):
                conn.exec_driver_sql("LOCK TABLE leases IN SHARE ROW EXCLUSIVE MODE")
                if conn.execute(query).first() is not None:
                    return False
            conn.execute(leases.insert().values(name=name, owner=owner, until=now + seconds))
            return True
        if row.owner != owner and row.until > now:
            return False
        conn.execute(leases.update().where(leases.c.name == name)
                     .values(owner=owner, until=now + seconds))
        return True


def release(engine: Engine, name: str, owner: str) -> None:
    with write_transaction(engine) as conn:
        conn.execute(leases.delete().where(leases.c.name == name, leases.c.owner == owner))
