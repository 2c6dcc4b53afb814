"""Broadcasts and their per-person receipts (the read model behind status and reminders)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import BigInteger, Column, Index, Text, bindparam, case, select, update
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
    delivered_at: str | None = Field(default=None, max_length=40)  # room mode: the one post


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
    delivered_at: str | None = Field(default=None, max_length=40)  # the notice reached them
    undeliverable: str | None = Field(default=None, max_length=200)  # why it never could
    safety_answer: str | None = Field(default=None, max_length=50)  # 安否: latest per question
    attendance_answer: str | None = Field(default=None, max_length=50)


broadcasts = BroadcastRow.__table__
receipts = ReceiptRow.__table__


_this_receipt = (receipts.c.broadcast_id == bindparam("bid"),
                 receipts.c.user_id == bindparam("uid"))
# Built once: SQLAlchemy caches their compiled form, so a receipt update costs one execute.
_RECEIPT_UPDATES = {
    "first": update(receipts).where(*_this_receipt, receipts.c.first_at.is_(None))
    .values(first_answer=bindparam("answer"), first_at=bindparam("at")),
    # One statement per answer: the latest answer, and the latest per question (安否/参集).
    "latest": update(receipts).where(*_this_receipt)
    .values(latest_answer=bindparam("answer"), latest_at=bindparam("at"),
            safety_answer=case((bindparam("q") == "safety", bindparam("answer")),
                               else_=receipts.c.safety_answer),
            attendance_answer=case((bindparam("q") == "attendance", bindparam("answer")),
                                   else_=receipts.c.attendance_answer)),
    "read": update(receipts).where(*_this_receipt, receipts.c.read_at.is_(None))
    .values(read_at=bindparam("at")),
    "reminded": update(receipts).where(*_this_receipt).values(reminded=bindparam("round")),
    "delivered": update(receipts).where(*_this_receipt, receipts.c.delivered_at.is_(None))
    .values(delivered_at=bindparam("at"), undeliverable=None),
    "undeliverable": update(receipts).where(*_this_receipt, receipts.c.delivered_at.is_(None))
    .values(undeliverable=bindparam("reason")),
}
_NOTICE_REF = re.compile(r"broadcast:(\d+):(.+)")
# A 安否 broadcast asks two questions. Answers given before there were two (出勤可能 / 出勤不可)
# count as attendance answers.
QUESTIONS = {"safety": ("無事", "軽傷", "重傷・要救助"), "attendance": ("参集可能", "参集不可", "未定")}
QUESTION_OF = {answer: q for q, answers in QUESTIONS.items() for answer in answers}
QUESTION_OF.update({"出勤可能": "attendance", "出勤不可": "attendance"})
_BY_ID = select(broadcasts).where(broadcasts.c.id == bindparam("bid"))
_NEWEST = select(broadcasts).order_by(broadcasts.c.id.desc()).limit(1)
_BY_PLATFORM_USER = select(receipts).where(receipts.c.broadcast_id == bindparam("bid"),
                                           receipts.c.platform_user == bindparam("who"))
_BY_USER_ID = select(receipts).where(receipts.c.broadcast_id == bindparam("bid"),
                                     receipts.c.user_id == bindparam("who"))


def _flush(conn, pending: dict[str, list[dict[str, Any]]]) -> None:
    for kind, rows in pending.items():
        conn.execute(_RECEIPT_UPDATES[kind], rows)
    pending.clear()


class BroadcastProjection:
    name = "broadcasts"
    types = frozenset({"broadcast.prepared", "broadcast.sent", "broadcast.cancelled",
                       "broadcast.answered", "broadcast.read", "broadcast.reminded",
                       "broadcast.closed", "outbound.delivered", "outbound.failed"})

    def apply(self, conn, batch: Sequence[RecordedEvent]) -> None:
        # Receipt updates (thousands per broadcast) go in executemany groups, in log order;
        # a broadcast-level event first applies what is buffered, so rows exist before updates.
        pending: dict[str, list[dict[str, Any]]] = {}
        for event in batch:
            data = event.payload
            at = event.occurred_at
            if event.type in ("outbound.delivered", "outbound.failed"):
                # A post about a broadcast: its notice (or a reminder, later) reached someone.
                match = _NOTICE_REF.fullmatch(data.get("ref") or "")
                if match is None or match.group(2) == "status":
                    continue
                bid, who = int(match.group(1)), match.group(2)
                if who == "room":
                    if event.type == "outbound.delivered":
                        _flush(conn, pending)
                        conn.execute(update(broadcasts).where(
                            broadcasts.c.id == bid, broadcasts.c.delivered_at.is_(None))
                            .values(delivered_at=at))
                elif event.type == "outbound.delivered":
                    pending.setdefault("delivered", []).append({"bid": bid, "uid": who, "at": at})
                else:
                    pending.setdefault("undeliverable", []).append(
                        {"bid": bid, "uid": who, "reason": str(data.get("reason", ""))[:200]})
                continue
            bid = data["id"]
            if event.type == "broadcast.answered":
                row = {"bid": bid, "uid": data["user_id"], "answer": data["answer"], "at": at,
                       "q": QUESTION_OF.get(data["answer"], "")}
                pending.setdefault("first", []).append(row)
                pending.setdefault("latest", []).append(row)
                continue
            if event.type == "broadcast.read":
                pending.setdefault("read", []).append({"bid": bid, "uid": data["user_id"], "at": at})
                continue
            if event.type == "broadcast.reminded":
                pending.setdefault("reminded", []).append(
                    {"bid": bid, "uid": data["user_id"], "round": data["round"]})
                continue
            _flush(conn, pending)
            if event.type == "broadcast.prepared":
                conn.execute(broadcasts.insert().values(
                    id=bid, sender=data["sender"], platform=data["platform"], room=data["room"],
                    body=data["body"], options=orjson.dumps(data["options"]).decode(),
                    targets=len(data["targets"]), created_at=at))
                if data["targets"]:
                    conn.execute(receipts.insert(), [
                        {"broadcast_id": bid, "user_id": t["user_id"],
                         "platform_user": t["platform_user"], "department": t["department"],
                         "reminded": 0} for t in data["targets"]])
            elif event.type == "broadcast.sent":
                conn.execute(update(broadcasts).where(broadcasts.c.id == bid)
                             .values(status="sent", sent_at=at))
            elif event.type in ("broadcast.cancelled", "broadcast.closed"):
                status = "cancelled" if event.type == "broadcast.cancelled" else "closed"
                conn.execute(update(broadcasts).where(broadcasts.c.id == bid)
                             .values(status=status, closed_at=at))
        _flush(conn, pending)

    def reset(self, conn) -> None:
        conn.execute(receipts.delete())
        conn.execute(broadcasts.delete())


def get(engine, bid: int | None = None) -> dict[str, Any] | None:
    """A broadcast (the newest sent or prepared one when `bid` is None)."""
    with read_connection(engine) as conn:
        return _item(conn, bid)


def _item(conn, bid: int | None) -> dict[str, Any] | None:
    row = (conn.execute(_BY_ID, {"bid": bid}) if bid is not None
           else conn.execute(_NEWEST)).mappings().first()
    if row is None:
        return None
    return {**row, "options": orjson.loads(row["options"])}


def _recipient(conn, bid: int, platform_user: str) -> dict[str, Any] | None:
    for query in (_BY_PLATFORM_USER, _BY_USER_ID):
        row = conn.execute(query, {"bid": bid, "who": platform_user}).mappings().first()
        if row:
            return dict(row)
    return None


def item_and_recipient(engine, bid: int, platform_user: str
                       ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A broadcast and one of its recipients, on one connection (a click's look-up)."""
    with read_connection(engine) as conn:
        item = _item(conn, bid)
        return item, (_recipient(conn, bid, platform_user) if item else None)


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
    """A recipient by their platform id, else by user id — each one index look-up (an OR of
    the two columns would scan every receipt of the broadcast on each click)."""
    with read_connection(engine) as conn:
        return _recipient(conn, bid, platform_user)
