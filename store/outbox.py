"""The outbox: every `outbound.requested` event becomes one row to deliver, claimed by one
worker at a time under a lease, and marked done only after the platform confirmed it.

A row found in `sending` with an expired lease is "unknown": the worker asks the platform
whether it arrived before sending it again.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, bindparam, func, or_, select

from store.db import is_sqlite, read_connection, write_transaction
from store.events import RecordedEvent
from store.schema import outbox


class OutboxProjection:
    name = "outbox"
    types = frozenset({"outbound.requested"})

    def apply(self, conn: Connection, batch: Sequence[RecordedEvent]) -> None:
        # On a replay, posts already delivered keep their rows: they are never sent again.
        known = {r[0] for r in conn.execute(select(outbox.c.id).where(
            outbox.c.id.in_([e.position for e in batch])))}
        batch = [e for e in batch if e.position not in known]
        if not batch:
            return
        rows = [{"id": e.position, "platform": e.payload.get("platform", "local"),
                 "target": str(e.payload.get("room", ""))[:300],
                 "body": orjson.dumps(e.payload).decode(),
                 "priority": int(e.payload.get("priority", 5)), "status": "pending",
                 "attempts": 0, "next_attempt_at": 0.0, "lease_until": 0.0,
                 "ref": e.payload.get("ref")} for e in batch]
        conn.execute(outbox.insert(), rows)

    def reset(self, conn: Connection) -> None:
        # Delivered rows are history; only undelivered ones are recreated on replay.
        conn.execute(outbox.delete().where(outbox.c.status.in_(["pending"])))


@dataclass(frozen=True)
class Job:
    id: int
    platform: str
    target: str
    body: dict[str, Any]
    attempts: int
    unknown: bool  # a previous attempt may have reached the platform


def release_predecessors(engine: Engine, owner: str, *, explicit_instance: bool = False) -> int:
    """Posts a dead predecessor of this instance was sending: due now (they are looked up at
    the platform before any re-send), instead of after their lease."""
    from store.leases import is_predecessor

    with write_transaction(engine) as conn:
        rows = conn.execute(select(outbox.c.id, outbox.c.lease_owner)
                            .where(outbox.c.status == "sending")).all()
        mine = [r.id for r in rows if r.lease_owner and
                is_predecessor(r.lease_owner, owner, explicit_instance=explicit_instance)]
        if mine:
            conn.execute(outbox.update().where(outbox.c.id.in_(mine)).values(lease_until=0))
    return len(mine)


def claim(engine: Engine, owner: str, *, limit: int = 100, lease: float = 30.0,
          platforms: Sequence[str] | None = None) -> list[Job]:
    now = time.time()
    due = or_(
        (outbox.c.status == "pending") & (outbox.c.next_attempt_at <= now),
        (outbox.c.status == "sending") & (outbox.c.lease_until < now))
    query = (select(outbox.c.id, outbox.c.platform, outbox.c.target, outbox.c.body,
                    outbox.c.attempts, outbox.c.status)
             .where(due).order_by(outbox.c.priority, outbox.c.id).limit(limit))
    if platforms is not None:
        query = query.where(outbox.c.platform.in_(list(platforms)))
    with write_transaction(engine) as conn:
        if not is_sqlite(conn):
            query = query.with_for_update(skip_locked=True)
        rows = conn.execute(query).all()
        if not rows:
            return []
        conn.execute(outbox.update().where(outbox.c.id.in_([r.id for r in rows]))
                     .values(status="sending", lease_owner=owner, lease_until=now + lease,
                             attempts=outbox.c.attempts + 1))
    return [Job(r.id, r.platform, r.target, orjson.loads(r.body), r.attempts,
                r.status == "sending" or r.attempts > 0) for r in rows]


def complete(engine: Engine, job_id: int, result: dict[str, Any]) -> None:
    complete_many(engine, [(job_id, result)])


def complete_many(engine: Engine, done: Sequence[tuple[int, dict[str, Any]]]) -> None:
    """Mark delivered posts done, all in one transaction (one fsync for a whole batch)."""
    if not done:
        return
    statement = (outbox.update().where(outbox.c.id == bindparam("job"))
                 .values(status="done", result=bindparam("answer"), lease_owner=None))
    with write_transaction(engine) as conn:  # one executemany: the write lock is held briefly
        conn.execute(statement, [{"job": job_id, "answer": orjson.dumps(result).decode()}
                                 for job_id, result in done])


def retry_later(engine: Engine, job_id: int, delay: float, error: str) -> None:
    with write_transaction(engine) as conn:
        conn.execute(outbox.update().where(outbox.c.id == job_id)
                     .values(status="pending", next_attempt_at=time.time() + delay,
                             lease_owner=None, result=orjson.dumps({"error": error}).decode()))


def fail(engine: Engine, job_id: int, error: str) -> None:
    with write_transaction(engine) as conn:
        conn.execute(outbox.update().where(outbox.c.id == job_id)
                     .values(status="failed", lease_owner=None,
                             result=orjson.dumps({"error": error}).decode()))


def delivered_ref(engine: Engine, platform: str, ref: str) -> dict[str, Any] | None:
    """What the platform answered for the newest delivered post under `ref` (to update it)."""
    with read_connection(engine) as conn:
        row = conn.execute(
            select(outbox.c.result).where(outbox.c.platform == platform, outbox.c.ref == ref,
                                          outbox.c.status == "done")
            .order_by(outbox.c.id).limit(1)).first()
    return orjson.loads(row[0]) if row and row[0] else None


def backlog(engine: Engine) -> int:
    with read_connection(engine) as conn:
        return conn.execute(select(func.count()).select_from(outbox)
                            .where(outbox.c.status.in_(["pending", "sending"]))).scalar() or 0


def counts(engine: Engine) -> dict[str, int]:
    with read_connection(engine) as conn:
        rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
        return {status: n for status, n in rows}
