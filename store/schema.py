"""Table definitions (SQLModel) for the event log, its anchors, projections and the outbox.

Migrations in migrations/ create these tables; the application reads and writes them with
SQLAlchemy Core (`Table` objects below) because the ORM is far too slow for the hot paths.
"""

from __future__ import annotations

from typing import Optional

from sqlalchemy import BigInteger, Column, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class Event(SQLModel, table=True):
    """One fact, appended once; `digest` chains it to the event before it."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
        Index("ix_events_type_position", "type", "position"),
    )
    position: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    stream_id: str = Field(max_length=200)
    stream_version: int
    type: str = Field(max_length=100)
    schema_version: int = 1
    payload: str = Field(sa_column=Column(Text, nullable=False))
    actor: Optional[str] = Field(default=None, max_length=200)
    platform: Optional[str] = Field(default=None, max_length=50)
    correlation_id: Optional[str] = Field(default=None, max_length=100)
    causation_id: Optional[str] = Field(default=None, max_length=100)
    occurred_at: str = Field(max_length=40)  # ISO 8601 UTC, exactly as hashed
    idempotency_key: Optional[str] = Field(default=None, max_length=300, unique=True)
    digest: str = Field(max_length=64)


class ChainHead(SQLModel, table=True):
    """The newest position and digest, kept apart so a deleted newest event is detected."""

    __tablename__ = "chain_head"
    id: int = Field(default=1, primary_key=True)
    position: int = Field(sa_column=Column(BigInteger, nullable=False))
    digest: str = Field(max_length=64)


class Checkpoint(SQLModel, table=True):
    """How far a projection or follower has applied the log."""

    __tablename__ = "checkpoints"
    name: str = Field(primary_key=True, max_length=100)
    position: int = Field(sa_column=Column(BigInteger, nullable=False))


class Outbox(SQLModel, table=True):
    """One outbound post to a platform, created from an `outbound.requested` event."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "priority", "id"),)
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    platform: str = Field(max_length=50)
    target: str = Field(max_length=300)  # room or user; rate limits and ordering are per target
    body: str = Field(sa_column=Column(Text, nullable=False))  # the outbound.requested payload
    priority: int = 5  # lower goes first: a drill never delays a real notice
    status: str = Field(default="pending", max_length=20)  # pending, sending, done, failed
    attempts: int = 0
    next_attempt_at: float = 0.0
    lease_owner: Optional[str] = Field(default=None, max_length=100)
    lease_until: float = 0.0
    result: Optional[str] = Field(default=None, sa_column=Column(Text))  # the platform's reply
    ref: Optional[str] = Field(default=None, max_length=200, index=True)


class RoomMessage(SQLModel, table=True):
    """The local talk room's own history (the embedded platform's storage)."""

    __tablename__ = "room_messages"
    __table_args__ = (Index("ix_room_messages_room_seq", "room", "seq"),)
    seq: Optional[int] = Field(default=None, sa_column=Column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True))
    id: str = Field(max_length=40, unique=True)
    room: str = Field(max_length=200)
    user: str = Field(max_length=200)
    text: str = Field(sa_column=Column(Text, nullable=False))
    buttons: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    private_to: Optional[str] = Field(default=None, max_length=200)
    thread: Optional[str] = Field(default=None, max_length=40)
    image: Optional[str] = Field(default=None, sa_column=Column(Text))
    created_at: str = Field(max_length=40)
    updated_at: str = Field(max_length=40)
    outbox_id: Optional[int] = Field(default=None, sa_column=Column(BigInteger, unique=True))
    ref: Optional[str] = Field(default=None, max_length=200)


class RoomRead(SQLModel, table=True):
    """既読 marks in the local talk room."""

    __tablename__ = "room_reads"
    message_id: str = Field(primary_key=True, max_length=40)
    user: str = Field(primary_key=True, max_length=200)
    read_at: str = Field(max_length=40)


class Lease(SQLModel, table=True):
    """Which instance runs a singleton job (the dispatcher, the scheduler) until when."""

    __tablename__ = "leases"
    name: str = Field(primary_key=True, max_length=100)
    owner: str = Field(max_length=100)
    until: float


events = Event.__table__
leases = Lease.__table__
chain_head = ChainHead.__table__
checkpoints = Checkpoint.__table__
outbox = Outbox.__table__
room_messages = RoomMessage.__table__
room_reads = RoomRead.__table__
