"""Broadcasts and their per-person receipts (the read model behind status and reminders)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import BigInteger, Column, Index, Text, and_, select, update
from sqlmodel import Field, SQLModel

from store.db import read_connection
from store.events import RecordedEvent


class BroadcastRow(SQLModel, table=True):
    __tablename__ = "broadcasts"
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    sender: str = Field(max_length=200)
    platform: str = Field(max_length=50)
    room: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    options: str = Field(sa_column=Column(Text, nullable=False))  # answers, drill, reminders, mode
    status: str = Field(default="prepared", max_length=20)  # prepared, sent, cancelled, closed
    targets: int = 0
    created_at: str = Field(max_length=40)
    sent_at: str | None = Field(default=None, max_length=40)
    closed_at: str | None = Field(default=None, max_length=40)


class ReceiptRow(SQLModel, table=True):
    __tablename__ = "broadcast_receipts"
    __table_args__ = (Index("ix_receipts_pending", "broadcast_id", "first_at"),
                      Index("ix_receipts_platform_user", "broadcast_id", "platform_user"))
    broadcast_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    user_id: str = Field(primary_key=True, max_length=200)
    platform_user: str = Field(max_length=200)
    department: str = Field(max_length=200)
    first_answer: str | None = Field(default=None, max_length=50)
    first_at: str | None = Field(default=None, max_length=40)
    latest_answer: str | None = Field(default=None, max_length=50)
    latest_at: str | None = Field(default=None, max_length=40)
    read_at: str | None = Field(default=None, max_length=40)
    reminded: int = 0


broadcasts = BroadcastRow.__table__
receipts = ReceiptRow.__table__


class BroadcastProjection:
    name = "broadcasts"
    types = frozenset({"broadcast.prepared", "broadcast.sent", "broadcast.cancelled",
                       "broadcast.answered", "broadcast.read", "broadcast.reminded",
                       "broadcast.closed"})

    def apply(self, conn, batch: Sequence[RecordedEvent]) -> None:
        for event in batch:
            data = event.payload
            bid = data["id"]
            if event.type == "broadcast.prepared":
                conn.execute(broadcasts.insert().values(
                    id=bid, sender=data["sender"], platform=data["platform"], room=data["room"],
                    body=data["body"], options=orjson.dumps(data["options"]).decode(),
                    targets=len(data["targets"]), created_at=event.occurred_at))
                if data["targets"]:
                    conn.execute(receipts.insert(), [
                        {"broadcast_id": bid, "user_id": t["user_id"],
                         "platform_user": t["platform_user"], "department": t["department"],
                         "reminded": 0} for t in data["targets"]])
            elif event.type == "broadcast.sent":
                conn.execute(update(broadcasts).where(broadcasts.c.id == bid)
                             .values(status="sent", sent_at=event.occurred_at))
            elif event.type in ("broadcast.cancelled", "broadcast.closed"):
                status = "cancelled" if event.type == "broadcast.cancelled" else "closed"
                conn.execute(update(broadcasts).where(broadcasts.c.id == bid)
                             .values(status=status, closed_at=event.occurred_at))
            elif event.type == "broadcast.answered":
                where = and_(receipts.c.broadcast_id == bid, receipts.c.user_id == data["user_id"])
                conn.execute(update(receipts).where(where, receipts.c.first_at.is_(None))
                             .values(first_answer=data["answer"], first_at=event.occurred_at))
                conn.execute(update(receipts).where(where).values(
                    latest_answer=data["answer"], latest_at=event.occurred_at))
            elif event.type == "broadcast.read":
                conn.execute(update(receipts).where(
                    receipts.c.broadcast_id == bid, receipts.c.user_id == data["user_id"],
                    receipts.c.read_at.is_(None)).values(read_at=event.occurred_at))
            elif event.type == "broadcast.reminded":
                conn.execute(update(receipts).where(
                    receipts.c.broadcast_id == bid, receipts.c.user_id == data["user_id"])
                    .values(reminded=data["round"]))

    def reset(self, conn) -> None:
        conn.execute(receipts.delete())
        conn.execute(broadcasts.delete())


def get(engine, bid: int | None = None) -> dict[str, Any] | None:
    """A broadcast (the newest sent or prepared one when `bid` is None)."""
    query = select(broadcasts)
    query = query.where(broadcasts.c.id == bid) if bid is not None else \
        query.order_by(broadcasts.c.id.desc()).limit(1)
    with read_connection(engine) as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    return {**row, "options": orjson.loads(row["options"])}


def open_broadcasts(engine) -> list[dict[str, Any]]:
    with read_connection(engine) as conn:
        rows = conn.execute(select(broadcasts).where(broadcasts.c.status == "sent")).mappings().all()
    return [{**r, "options": orjson.loads(r["options"])} for r in rows]


def recipients(engine, bid: int) -> list[dict[str, Any]]:
    with read_connection(engine) as conn:
        return [dict(r) for r in conn.execute(
            select(receipts).where(receipts.c.broadcast_id == bid)
            .order_by(receipts.c.department, receipts.c.user_id)).mappings()]


def recipient(engine, bid: int, platform_user: str) -> dict[str, Any] | None:
    """A recipient by their platform id, else by user id — two index look-ups (an OR of the
    two columns would scan every receipt of the broadcast on each click)."""
    with read_connection(engine) as conn:
        for column in (receipts.c.platform_user, receipts.c.user_id):
            row = conn.execute(select(receipts).where(
                receipts.c.broadcast_id == bid, column == platform_user)).mappings().first()
            if row:
                return dict(row)
    return None
