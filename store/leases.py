"""Time-limited leases in the database: one instance at a time runs a singleton job, and a
dead instance's lease is taken over once it expires — at once when the holder is this
instance's own predecessor (same instance identity, or a process of this host that is gone),
so a restart after kill -9 does not wait for the expiry.

Owners are "{identity}:{pid}:{nonce}": identity is CHONAI_INSTANCE or the host name."""

from __future__ import annotations

import os
import secrets
import socket
import time

from sqlalchemy import Engine, select

from store.db import is_sqlite, write_transaction
from store.schema import leases


def owner_name(instance: str = "") -> str:
    return f"{instance or socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_predecessor(holder: str, owner: str, *, explicit_instance: bool = False) -> bool:
    """Whether `holder` is an earlier incarnation of `owner`: the same configured instance, or
    a process of this same host that no longer runs."""
    try:
        held_identity, held_pid, _ = holder.rsplit(":", 2)
        identity, pid, _ = owner.rsplit(":", 2)
    except ValueError:
        return False
    if held_identity != identity or holder == owner:
        return False
    if explicit_instance:
        return True
    return held_identity == socket.gethostname() and held_pid.isdigit() and \
        int(held_pid) != int(pid) and not _alive(int(held_pid))


def acquire(engine: Engine, name: str, owner: str, seconds: float, *,
            explicit_instance: bool = False) -> bool:
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
        if row.owner != owner and row.until > now and \
                not is_predecessor(row.owner, owner, explicit_instance=explicit_instance):
            return False
        conn.execute(leases.update().where(leases.c.name == name)
                     .values(owner=owner, until=now + seconds))
        return True


def release_all(engine: Engine, owner: str) -> None:
    with write_transaction(engine) as conn:
        conn.execute(leases.delete().where(leases.c.owner == owner))


def release(engine: Engine, name: str, owner: str) -> None:
    with write_transaction(engine) as conn:
        conn.execute(leases.delete().where(leases.c.name == name, leases.c.owner == owner))
