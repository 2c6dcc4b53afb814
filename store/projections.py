"""Read models that follow the log, each with its checkpoint in the same transaction.

A projection's `apply` writes its state with the connection it is handed; the runner commits
that together with the checkpoint, so each event takes effect exactly once, and a restart
resumes at the checkpoint. `rebuild` replays a projection from position 0.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from operator import itemgetter
from collections.abc import Iterator, Sequence
from typing import Protocol

from sqlalchemy import Connection, Engine, select

from store.db import is_sqlite, write_transaction
from store.events import COLUMNS, RecordedEvent, row_to_event
from store.schema import chain_head, checkpoints

log = logging.getLogger(__name__)


class Projection(Protocol):
    name: str
    types: frozenset[str]  # the event types it reads

    def apply(self, conn: Connection, batch: Sequence[RecordedEvent]) -> None: ...

    def reset(self, conn: Connection) -> None: ...


def checkpoint(conn: Connection, name: str, *, lock: bool = False) -> int:
    query = select(checkpoints.c.position).where(checkpoints.c.name == name)
    if lock and not is_sqlite(conn):
        query = query.with_for_update()
    value = conn.execute(query).scalar()
    if value is None:
        conn.execute(checkpoints.insert().values(name=name, position=0))
        if lock and not is_sqlite(conn):
            conn.execute(query).scalar()
        return 0
    return value


def set_checkpoint(conn: Connection, name: str, position: int) -> None:
    conn.execute(checkpoints.update().where(checkpoints.c.name == name).values(position=position))


_LOG_ONLY = frozenset({"digest", "idempotency_key", "correlation_id", "causation_id"})


def catch_up(engine: Engine, projection: Projection, *, batch: int = 5000) -> int:
    """Apply every event after the checkpoint; returns how many events were applied."""
    applied = 0
    types = sorted(projection.types)
    mark = "?" if is_sqlite(engine) else "%s"
    # Raw DBAPI on the replay path: a million events must replay in seconds, and every text
    # column fetched costs. Digest, key and correlation ids are the log's business, not a
    # read model's: they come back as None here.
    columns = ", ".join(c if c not in _LOG_ONLY else "NULL" for c in COLUMNS)
    in_types = ", ".join([mark] * len(types))
    # Sparse types: walk the (type, position) index, one type at a time, in order.
    by_type = (f"SELECT {columns} FROM events WHERE type = {mark} AND position > {mark} "
               f"AND position <= {mark} ORDER BY position LIMIT {int(batch)}")
    # Dense types (most of the log, as in a full replay): a sequential scan of the primary
    # key beats one index probe per event. The unary + keeps SQLite off the type index.
    by_position = (f"SELECT {columns} FROM events WHERE position > {mark} AND position <= {mark} "
                   f"AND {'+' if mark == '?' else ''}type IN ({in_types}) "
                   f"ORDER BY position LIMIT {int(batch)}")
    dense: bool | None = None
    while True:
        with write_transaction(engine) as conn:
            start = checkpoint(conn, projection.name, lock=True)
            head = conn.execute(select(chain_head.c.position)).scalar() or 0
            if head <= start:
                return applied
            cursor = conn.connection.dbapi_connection.cursor()
            if dense is None:
                dense = head - start > 10 * batch and _share(cursor, mark, in_types, types,
                                                              start, head) > 0.3
            rows: list = []
            done = head
            if dense:
                cursor.execute(by_position, [start, head, *types])
                rows = cursor.fetchall()
                if len(rows) >= batch:
                    done = rows[-1][0]
            else:
                for kind in types:
                    cursor.execute(by_type, [kind, start, head])
                    found = cursor.fetchall()
                    rows.extend(found)
                    if len(found) >= batch:  # this type has more: stop where its rows stop
                        done = min(done, found[-1][0])
                if len(types) > 1:
                    rows.sort(key=itemgetter(0))
            cursor.close()
            chunk = [row_to_event(row) for row in rows if row[0] <= done]
            if chunk:
                projection.apply(conn, chunk)
            set_checkpoint(conn, projection.name, done)
            applied += len(chunk)
            if done >= head:
                return applied


def _share(cursor, mark: str, in_types: str, types: list[str], start: int, head: int) -> float:
    """Which share of the events after `start` a projection reads (counted on the index)."""
    cursor.execute(f"SELECT count(*) FROM events WHERE type IN ({in_types}) "
                   f"AND position > {mark} AND position <= {mark}", [*types, start, head])
    return cursor.fetchone()[0] / max(1, head - start)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """A replay allocates millions of short-lived dicts and tuples but no cycles; Python's
    cyclic collector would rescan them over and over (measured: 6 s instead of 3.6 s per
    million events), so it waits until the replay is done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def rebuild(engine: Engine, projection: Projection) -> int:
    """Forget the read model and replay the whole log into it."""
    with write_transaction(engine) as conn:
        projection.reset(conn)
        checkpoint(conn, projection.name, lock=True)
        set_checkpoint(conn, projection.name, 0)
    with paused_gc():
        return catch_up(engine, projection, batch=20000)


class ProjectionRunner:
    """Keeps every registered projection caught up, one catch-up at a time."""

    def __init__(self, engine: Engine, projections: Sequence[Projection]) -> None:
        import asyncio

        self.engine = engine
        self.projections = list(projections)
        self._lock = asyncio.Lock()

    async def catch_up_all(self) -> int:
        import asyncio

        async with self._lock:
            return await asyncio.to_thread(self._catch_up_sync)

    def _catch_up_sync(self) -> int:
        return sum(catch_up(self.engine, p) for p in self.projections)

    def rebuild_all(self) -> dict[str, int]:
        return {p.name: rebuild(self.engine, p) for p in self.projections}
