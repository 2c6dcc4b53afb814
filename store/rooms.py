"""Storage of the local talk room (the embedded platform): messages and 既読 marks."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import orjson
from sqlalchemy import Engine, func, or_, select
from sqlalchemy.exc import IntegrityError

from store.db import read_connection, write_transaction
from store.events import format_time, utcnow
from store.schema import room_messages, room_reads

_COLUMNS = [room_messages.c[n] for n in (
    "seq", "id", "room", "user", "text", "buttons", "private_to", "thread", "image",
    "created_at", "updated_at", "outbox_id", "ref")]


def _as_dict(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data["buttons"] = orjson.loads(data["buttons"])
    return data


def new_id() -> str:
    return uuid.uuid4().hex


def add_message(engine: Engine, room: str, user: str, text: str, *, message_id: str | None = None,
                buttons: list[dict] | None = None, private_to: str | None = None,
                thread: str | None = None, image: str | None = None,
                outbox_id: int | None = None, ref: str | None = None) -> dict[str, Any]:
    """Store one message; storing the same outbox post twice returns the first one."""
    now = format_time(utcnow())
    values = dict(id=message_id or new_id(), room=room, user=user, text=text,
                  buttons=orjson.dumps(buttons or []).decode(), private_to=private_to,
                  thread=thread, image=image, created_at=now, updated_at=now,
                  outbox_id=outbox_id, ref=ref)
    try:
        with write_transaction(engine) as conn:
            conn.execute(room_messages.insert().values(**values))
    except IntegrityError:
        existing = by_outbox(engine, outbox_id) if outbox_id is not None else None
        if existing is None:
            raise
        return existing
    return get_message(engine, values["id"])  # type: ignore[return-value]


def update_message(engine: Engine, message_id: str, text: str, buttons: list[dict]) -> None:
    with write_transaction(engine) as conn:
        conn.execute(room_messages.update().where(room_messages.c.id == message_id).values(
            text=text, buttons=orjson.dumps(buttons).decode(), updated_at=format_time(utcnow())))


def get_message(engine: Engine, message_id: str) -> dict[str, Any] | None:
    with read_connection(engine) as conn:
        row = conn.execute(select(*_COLUMNS).where(room_messages.c.id == message_id)).first()
    return _as_dict(row) if row else None


def by_outbox(engine: Engine, outbox_id: int) -> dict[str, Any] | None:
    with read_connection(engine) as conn:
        row = conn.execute(select(*_COLUMNS).where(room_messages.c.outbox_id == outbox_id)).first()
    return _as_dict(row) if row else None


def list_messages(engine: Engine, room: str, *, user: str | None = None,
                  limit: int = 200) -> list[dict[str, Any]]:
    """The newest messages of a room, oldest first, as `user` sees them (with 既読 counts)."""
    query = select(*_COLUMNS).where(room_messages.c.room == room)
    if user is None:
        query = query.where(room_messages.c.private_to.is_(None))
    else:
        query = query.where(or_(room_messages.c.private_to.is_(None),
                                room_messages.c.private_to == user))
    query = query.order_by(room_messages.c.seq.desc()).limit(limit)
    with read_connection(engine) as conn:
        rows = [_as_dict(r) for r in conn.execute(query)][::-1]
        ids = [r["id"] for r in rows]
        readers: dict[str, list[str]] = defaultdict(list)
        if ids:
            for message_id, reader in conn.execute(
                    select(room_reads.c.message_id, room_reads.c.user)
                    .where(room_reads.c.message_id.in_(ids))):
                readers[message_id].append(reader)
    for row in rows:
        row["read_count"] = len(readers[row["id"]])
        if user is not None:
            row["read"] = user in readers[row["id"]]
    return rows


def mark_read(engine: Engine, message_id: str, user: str) -> bool:
    """True the first time `user` reads the message."""
    try:
        with write_transaction(engine) as conn:
            conn.execute(room_reads.insert().values(message_id=message_id, user=user,
                                                    read_at=format_time(utcnow())))
    except IntegrityError:
        return False
    return True


def rooms(engine: Engine, user: str | None = None) -> list[dict[str, Any]]:
    """The rooms `user` may see, newest first, each with how many messages from others they
    have not read yet (safety notices waiting in their dm: room among them)."""
    query = (select(room_messages.c.room, func.max(room_messages.c.seq).label("last"))
             .group_by(room_messages.c.room).order_by(func.max(room_messages.c.seq).desc()))
    unread: dict[str, int] = {}
    with read_connection(engine) as conn:
        found = [r.room for r in conn.execute(query)]
        if user is not None:
            read = select(room_reads.c.message_id).where(room_reads.c.user == user)
            counted = (select(room_messages.c.room, func.count().label("n"))
                       .where(room_messages.c.user != user,
                              or_(room_messages.c.private_to.is_(None),
                                  room_messages.c.private_to == user),
                              room_messages.c.id.not_in(read))
                       .group_by(room_messages.c.room))
            unread = {r.room: r.n for r in conn.execute(counted)}
    # Another person's dm: room is not even named; with no user, no dm: room is.
    found = [r for r in found if not r.startswith("dm:") or (user is not None and r == f"dm:{user}")]
    return [{"room": r, "unread": unread.get(r, 0)} for r in found]


def change_marker(engine: Engine) -> tuple:
    """Moves whenever a message is added or edited or a read mark is set (for live pages)."""
    with read_connection(engine) as conn:
        newest = conn.execute(select(func.max(room_messages.c.seq),
                                     func.max(room_messages.c.updated_at))).first()
        reads = conn.execute(select(func.count()).select_from(room_reads)).scalar()
    return (newest[0], newest[1], reads)
