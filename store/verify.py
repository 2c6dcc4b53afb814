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


def digests_at(engine: Engine, positions) -> dict[int, str]:  # noqa: ANN001
    """The chain's digest at each of these positions (those past its end are absent)."""
    wanted = sorted(set(positions))
    found: dict[int, str] = {}
    with read_connection(engine) as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            found.update(conn.execute(select(events.c.position, events.c.digest)
                                      .where(events.c.position.in_(chunk))).all())
    return found


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


# Read models rebuilt from the log and compared with the live ones. The outbox (delivery
# state kept by the worker), the talk room's own messages, blobs, leases, keys and
# checkpoints are not read models of the log.
READ_MODEL_TABLES = ("staff", "broadcasts", "broadcast_receipts", "application_status",
                     "procedures", "kpi_values", "documents", "passages", "locations")


def compare_read_models(live: Engine, projections, batch: int = 20000) -> str | None:  # noqa: ANN001
    """Replay the log into a scratch SQLite database and compare every read model with the
    live one; the first difference as a sentence, or None when they agree."""
    import tempfile
    from pathlib import Path

    from sqlalchemy import inspect, text

    from store.db import make_engine
    from store.migrate import upgrade
    from store.projections import rebuild

    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = make_engine(f"sqlite:///{Path(scratch_dir) / 'replay.db'}")
        upgrade(scratch)
        columns = [events.c[name] for name in COLUMNS]
        with read_connection(live) as source, scratch.begin() as target:
            target.execute(events.delete())
            after = 0
            while True:
                rows = source.execute(select(*columns).where(events.c.position > after)
                                      .order_by(events.c.position).limit(batch)).all()
                if rows:
                    target.execute(events.insert(), [dict(zip(COLUMNS, row)) for row in rows])
                    after = rows[-1][0]
                if len(rows) < batch:
                    break
            head = source.execute(select(chain_head.c.position, chain_head.c.digest)).first()
            target.execute(chain_head.delete())
            if head:
                target.execute(chain_head.insert().values(id=1, position=head[0], digest=head[1]))
        for projection in projections:
            if projection.name != "outbox":
                rebuild(scratch, projection)
        present = set(inspect(live).get_table_names())
        for table in READ_MODEL_TABLES:
            if table not in present:
                continue
            keys = [c["name"] for c in inspect(live).get_columns(table)]
            order = ", ".join(f'"{k}"' for k in keys)
            query = text(f'SELECT {order} FROM "{table}" ORDER BY {order}')
            with read_connection(live) as conn:
                live_rows = [tuple(r) for r in conn.execute(query)]
            with scratch.connect() as conn:
                replayed = [tuple(r) for r in conn.execute(query)]
            if live_rows != replayed:
                live_set, replay_set = set(live_rows), set(replayed)
                changed = sorted(live_set - replay_set, key=repr)[:1]
                missing = sorted(replay_set - live_set, key=repr)[:1]
                first = changed[0] if changed else (missing[0] if missing else None)
                where = "、".join(f"{k}={v!r}" for k, v in zip(keys[:2], first)) if first else "行の数"
                detail = "ログにない内容です" if changed else "ログにある行がありません"
                scratch.dispose()
                return f"読み取りモデル {table} の {where} がログと一致しません（{detail}）。"
        scratch.dispose()
    return None
