"""Tamper evidence: recompute the hash chain and compare it with the stored head."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, select

from store.db import read_connection
from store.events import COLUMNS, GENESIS, chain_digest
from store.schema import chain_head, events


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checked: int
    bad_position: int | None = None
    reason: str = ""


def verify(engine: Engine, batch: int = 20000) -> Verdict:
    """Walk the log in order; the first edited, missing or reordered event is named."""
    previous, expected, checked = GENESIS, 1, 0
    columns = [events.c[name] for name in COLUMNS]
    with read_connection(engine) as conn:
        head = conn.execute(select(chain_head.c.position, chain_head.c.digest)).first()
        after = 0
        while True:
            rows = conn.execute(select(*columns).where(events.c.position > after)
                                .order_by(events.c.position).limit(batch)).all()
            for row in rows:
                position = row[0]
                if position != expected:
                    return Verdict(False, checked, expected, "event missing or reordered")
                if chain_digest(previous, row) != row[12]:
                    return Verdict(False, checked, position, "event edited or reordered")
                previous, expected, checked = row[12], expected + 1, checked + 1
            if len(rows) < batch:
                break
            after = rows[-1][0]
    head_position, head_digest = (head[0], head[1]) if head else (0, GENESIS)
    if head_position != checked or head_digest != previous:
        return Verdict(False, checked, checked + 1, "newest events missing (chain head mismatch)")
    return Verdict(True, checked)
