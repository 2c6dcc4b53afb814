"""Shared positions (今ココ): each row holds only the sealed position; its key is in
store/sealed.py and is destroyed at expiry."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from sqlalchemy import BigInteger, Column, Float, Text, select
from sqlmodel import Field, SQLModel

from store.db import read_connection, write_transaction
from store.events import RecordedEvent


class LocationRow(SQLModel, table=True):
    __tablename__ = "locations"
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    user: str = Field(max_length=200, index=True)
    platform: str = Field(max_length=50)
    room: str = Field(max_length=200)
    department: str = Field(max_length=200)
    sealed: str = Field(sa_column=Column(Text, nullable=False))
    shared_at: float = Field(sa_column=Column(Float, nullable=False))
    expires_at: float = Field(sa_column=Column(Float, nullable=False, index=True))


locations = LocationRow.__table__


class LocationProjection:
    name = "locations"
    types = frozenset({"location.shared"})

    def apply(self, conn, batch: Sequence[RecordedEvent]) -> None:
        rows = [{"id": e.position, "user": e.payload["user"], "platform": e.platform or "local",
                 "room": e.payload["room"], "department": e.payload.get("department", ""),
                 "sealed": orjson.dumps(e.payload["sealed"]).decode(),
                 "shared_at": e.time.timestamp(), "expires_at": e.payload["expires_at"]}
                for e in batch]
        conn.execute(locations.insert(), rows)

    def reset(self, conn) -> None:
        conn.execute(locations.delete())


def recent(engine, since: float, now: float) -> list[dict]:
    with read_connection(engine) as conn:
        rows = conn.execute(select(locations).where(
            locations.c.shared_at >= since, locations.c.expires_at > now)
            .order_by(locations.c.shared_at.desc())).mappings().all()
    return [{**r, "sealed": orjson.loads(r["sealed"])} for r in rows]


def forget_expired(engine, now: float) -> int:
    with write_transaction(engine) as conn:
        return conn.execute(locations.delete().where(locations.c.expires_at <= now)).rowcount
