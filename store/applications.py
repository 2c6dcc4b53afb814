"""Application statuses (受付番号 → status history) and the procedure catalogue."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from sqlalchemy import Boolean, Column, Float, Text, select
from sqlmodel import Field, SQLModel

from store.db import read_connection, write_transaction
from store.events import RecordedEvent


class StatusRow(SQLModel, table=True):
    __tablename__ = "application_status"
    receipt_no: str = Field(primary_key=True, max_length=60)
    updated_at: str = Field(primary_key=True, max_length=40)  # ISO with offset, as received
    status: str = Field(primary_key=True, max_length=100)
    procedure: str = Field(max_length=200)
    expires_at: float | None = Field(default=None, sa_column=Column(Float, nullable=True, index=True))


class ProcedureRow(SQLModel, table=True):
    __tablename__ = "procedures"
    procedure: str = Field(primary_key=True, max_length=200)
    reading: str = Field(max_length=400)
    online: bool = Field(sa_column=Column(Boolean, nullable=False))
    channel: str = Field(max_length=100)
    url: str = Field(sa_column=Column(Text, nullable=False))
    notes: str = Field(sa_column=Column(Text, nullable=False))


statuses = StatusRow.__table__
procedures = ProcedureRow.__table__


class ApplicationsProjection:
    name = "applications"
    types = frozenset({"status.changed", "procedures.imported"})

    def apply(self, conn, batch: Sequence[RecordedEvent]) -> None:
        for event in batch:
            data = event.payload
            if event.type == "status.changed":
                expires_at = data.get("expires_at")
                if "sealed" in data:  # kept for its retention: readable until the key is gone
                    from store.sealed import unseal_in

                    opened = unseal_in(conn, data["sealed"])
                    if opened is None:
                        continue
                    data = orjson.loads(opened)
                key = (statuses.c.receipt_no == data["receipt_no"],
                       statuses.c.updated_at == data["updated_at"], statuses.c.status == data["status"])
                if conn.execute(select(statuses.c.receipt_no).where(*key)).first() is None:
                    conn.execute(statuses.insert().values(
                        receipt_no=data["receipt_no"], updated_at=data["updated_at"],
                        status=data["status"], procedure=data["procedure"], expires_at=expires_at))
            else:
                conn.execute(procedures.delete())
                if data["rows"]:
                    conn.execute(procedures.insert(), data["rows"])

    def reset(self, conn) -> None:
        conn.execute(statuses.delete())
        conn.execute(procedures.delete())


def forget_expired(engine, now: float) -> int:
    with write_transaction(engine) as conn:
        return conn.execute(statuses.delete().where(statuses.c.expires_at <= now)).rowcount


def history(engine, receipt_no: str) -> list[dict]:
    from datetime import datetime

    with read_connection(engine) as conn:
        rows = [dict(r) for r in conn.execute(
            select(statuses).where(statuses.c.receipt_no == receipt_no)).mappings()]
    return sorted(rows, key=lambda r: datetime.fromisoformat(r["updated_at"]))


def catalogue(engine) -> list[dict]:
    with read_connection(engine) as conn:
        return [dict(r) for r in conn.execute(select(procedures)).mappings()]
