"""The append-only event log: group-committed appends, idempotency keys, a hash chain.

Appends from many concurrent callers are queued and written by one writer thread in as few
transactions as possible (group commit): every caller's events are durable before its
`append` returns. Positions are assigned under the chain-head row lock, so positions commit
in order on PostgreSQL too and a follower never skips an event that committed late.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Engine, bindparam, func, select

from store.db import is_sqlite, read_connection, write_transaction
from store.schema import chain_head, events

log = logging.getLogger(__name__)

GENESIS = "0" * 64
_CHUNK = 500  # bound parameters per IN (...) query
_SQLITE_ROWS = 76  # rows per multi-row INSERT: 13 parameters each, within any SQLite's 999


class ConcurrencyError(Exception):
    """A stream moved on since the caller read it (optimistic concurrency)."""


@dataclass(frozen=True, slots=True)
class NewEvent:
    type: str
    stream_id: str
    payload: dict[str, Any] = field(default_factory=dict)
    expected_version: int | None = None  # the stream's current version the caller saw
    actor: str | None = None
    platform: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    idempotency_key: str | None = None
    schema_version: int = 1
    occurred_at: datetime | None = None


class RecordedEvent(NamedTuple):
    """A stored event. A tuple, so that replaying millions of them stays cheap."""

    position: int
    stream_id: str
    stream_version: int
    type: str
    schema_version: int
    payload: dict[str, Any]
    actor: str | None
    platform: str | None
    correlation_id: str | None
    causation_id: str | None
    occurred_at: str
    idempotency_key: str | None
    digest: str

    @property
    def time(self) -> datetime:
        return parse_time(self.occurred_at)

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


COLUMNS = ("position", "stream_id", "stream_version", "type", "schema_version", "payload",
           "actor", "platform", "correlation_id", "causation_id", "occurred_at",
           "idempotency_key", "digest")


def format_time(moment: datetime) -> str:
    # isoformat is several times faster than strftime on the append path.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def chain_digest(previous: str, row: Sequence[Any]) -> str:
    """The digest of one stored row (all columns but the digest) chained to its predecessor."""
    body = orjson.dumps(list(row[:12]))
    return hashlib.sha256(previous.encode() + body).hexdigest()


_new_event = tuple.__new__


def row_to_event(row: Sequence[Any]) -> RecordedEvent:
    values = list(row)
    values[5] = orjson.loads(values[5])
    return _new_event(RecordedEvent, values)


@dataclass(slots=True)
class _Request:
    rows: list[list[Any]]  # prepared rows without position/version/digest
    news: Sequence[NewEvent]
    future: asyncio.Future


class EventStore:
    """Async facade over the log; one writer thread does every append."""

    def __init__(self, engine: Engine, *, max_batch: int = 2000) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._pending: list[_Request] = []
        self._wake = asyncio.Event()
        self._writer_task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="event-writer")
        self._listeners: list[asyncio.Event] = []
        self.appended_total = 0
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        if self._writer_task is None:
            self._writer_task = asyncio.create_task(self._writer_loop(), name="event-writer")

    async def stop(self) -> None:
        """Write everything queued, then stop the writer."""
        if self._writer_task is None:
            return
        # The writer finishes the batch it is writing and everything still queued, then
        # returns: cancelling it mid-write would leave that batch's callers waiting for ever.
        self._stopping = True
        self._wake.set()
        try:
            await self._writer_task
        except asyncio.CancelledError:
            pass
        self._writer_task = None
        self._stopping = False
        self._executor.shutdown(wait=True)

    def subscribe(self) -> asyncio.Event:
        """An asyncio.Event set whenever new events were committed in this process."""
        flag = asyncio.Event()
        self._listeners.append(flag)
        return flag

    def notify(self) -> None:
        for flag in self._listeners:
            flag.set()

    # -- appending -------------------------------------------------------------------------
    async def append(self, *news: NewEvent) -> list[RecordedEvent]:
        """Append atomically; an event whose idempotency key exists returns the stored one."""
        if not news:
            return []
        rows = [_prepare(new) for new in news]  # bad payloads fail here, for this caller only
        future = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(rows, news, future))
        self._wake.set()
        if self._writer_task is None:
            await self.start()
        return await future

    async def _writer_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._stopping and not self._pending:
                return
            await self._wake.wait()
            self._wake.clear()
            # Let every caller that is ready enqueue first, so one commit carries them all.
            await asyncio.sleep(0)
            while self._pending:
                batch, size = [], 0
                while self._pending and size < self.max_batch:
                    request = self._pending.pop(0)
                    batch.append(request)
                    size += len(request.rows)
                try:
                    outcomes = await loop.run_in_executor(self._executor, self._write, batch)
                except Exception as exc:  # the database is down: every caller in the batch is told
                    log.warning("event append failed: %s", type(exc).__name__)
                    for request in batch:
                        if not request.future.done():
                            request.future.set_exception(exc)
                    continue
                fresh = 0
                for request, outcome in zip(batch, outcomes):
                    if request.future.done():
                        continue
                    if isinstance(outcome, Exception):
                        request.future.set_exception(outcome)
                    else:
                        request.future.set_result(outcome[0])
                        fresh += outcome[1]
                self.appended_total += fresh
                if fresh:
                    self.notify()

    def _write(self, batch: list[_Request]) -> list[Any]:
        # The hot path speaks DBAPI directly: SQLAlchemy's per-statement overhead would
        # cost more than the commit itself.
        sqlite = is_sqlite(self.engine)
        mark = "?" if sqlite else "%s"
        with write_transaction(self.engine) as conn:
            cursor = conn.connection.dbapi_connection.cursor()
            lock = "SELECT position, digest FROM chain_head WHERE id = 1" + ("" if sqlite else " FOR UPDATE")
            cursor.execute(lock)
            head = cursor.fetchone()
            if head is None:  # a database migrated before the head row was seeded
                cursor.execute(f"INSERT INTO chain_head (id, position, digest) VALUES (1, 0, {mark}) "
                               "ON CONFLICT (id) DO NOTHING", (GENESIS,))
                cursor.execute(lock)
                head = cursor.fetchone()
            position, digest = (head[0], head[1]) if head else (0, GENESIS)
            keys = [r[_KEY] for request in batch for r in request.rows if r[_KEY] is not None]
            existing = _raw_by_keys(cursor, keys, mark)
            streams = {r[0] for request in batch for r in request.rows}
            versions = _raw_stream_versions(cursor, streams, mark)
            inserts: list[list[Any]] = []
            outcomes: list[Any] = []
            for request in batch:
                outcome = self._place(request, versions, existing, position, digest, inserts)
                if isinstance(outcome, tuple):
                    position, digest = outcome[2], outcome[3]
                    outcomes.append(outcome[:2])
                else:
                    outcomes.append(outcome)
            if inserts:
                _raw_insert(cursor, inserts, sqlite)
                if head is None:
                    cursor.execute(f"INSERT INTO chain_head (id, position, digest) "
                                   f"VALUES (1, {mark}, {mark})", (position, digest))
                else:
                    cursor.execute(f"UPDATE chain_head SET position = {mark}, digest = {mark} "
                                   f"WHERE id = 1", (position, digest))
            cursor.close()
        return outcomes

    @staticmethod
    def _place(request: _Request, versions: dict[str, int], existing: dict[str, RecordedEvent],
               position: int, digest: str, inserts: list[list[Any]]) -> Any:
        # Optimistic concurrency is checked for the whole request before anything is placed.
        seen: dict[str, int] = {}
        for new in request.news:
            if new.expected_version is not None and new.idempotency_key not in existing:
                current = seen.get(new.stream_id, versions.get(new.stream_id, 0))
                if current != new.expected_version:
                    return ConcurrencyError(
                        f"stream {new.stream_id} is at version {current}, "
                        f"expected {new.expected_version}")
            seen[new.stream_id] = seen.get(new.stream_id, versions.get(new.stream_id, 0)) + 1
        result: list[RecordedEvent] = []
        fresh = 0
        for row, new in zip(request.rows, request.news):
            key = row[_KEY]
            if key is not None and key in existing:
                result.append(existing[key])
                continue
            position += 1
            version = versions.get(row[0], 0) + 1
            versions[row[0]] = version
            stored = [position, row[0], version, *row[1:]]
            digest = chain_digest(digest, stored)
            stored.append(digest)
            inserts.append(stored)
            recorded = RecordedEvent(*stored[:5], new.payload, *stored[6:])
            if key is not None:
                existing[key] = recorded
            result.append(recorded)
            fresh += 1
        return (result, fresh, position, digest)

    # -- reading ---------------------------------------------------------------------------
    def read(self, after: int = 0, *, types: Iterable[str] | None = None,
             stream_id: str | None = None, limit: int = 1000,
             upto: int | None = None) -> list[RecordedEvent]:
        query = select(*[events.c[name] for name in COLUMNS]).where(events.c.position > after)
        if types:
            query = query.where(events.c.type.in_(list(types)))
        if stream_id is not None:
            query = query.where(events.c.stream_id == stream_id)
        if upto is not None:
            query = query.where(events.c.position <= upto)
        query = query.order_by(events.c.position).limit(limit)
        with read_connection(self.engine) as conn:
            return [row_to_event(row) for row in conn.execute(query)]

    def iter_all(self, after: int = 0, *, types: Iterable[str] | None = None,
                 upto: int | None = None, batch: int = 5000) -> Iterator[RecordedEvent]:
        while True:
            chunk = self.read(after, types=types, limit=batch, upto=upto)
            yield from chunk
            if len(chunk) < batch:
                return
            after = chunk[-1].position

    def head(self) -> tuple[int, str]:
        with read_connection(self.engine) as conn:
            row = conn.execute(select(chain_head.c.position, chain_head.c.digest)).first()
        return (row[0], row[1]) if row else (0, GENESIS)

    def by_key(self, key: str) -> RecordedEvent | None:
        with read_connection(self.engine) as conn:
            return _by_keys(conn, [key]).get(key)

    def known_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these idempotency keys are in the log."""
        found: set[str] = set()
        with read_connection(self.engine) as conn:
            for start in range(0, len(keys), _CHUNK):
                chunk = list(keys[start:start + _CHUNK])
                found.update(conn.scalars(select(events.c.idempotency_key)
                                          .where(events.c.idempotency_key.in_(chunk))))
        return found

    def stream(self, stream_id: str) -> list[RecordedEvent]:
        with read_connection(self.engine) as conn:
            return [row_to_event(row) for row in conn.execute(_STREAM, {"stream": stream_id})]

    def stream_version(self, stream_id: str) -> int:
        with read_connection(self.engine) as conn:
            return _stream_versions(conn, {stream_id}).get(stream_id, 0)


_STREAM = (select(*[events.c[name] for name in COLUMNS])
           .where(events.c.stream_id == bindparam("stream")).order_by(events.c.position))


def _prepare(new: NewEvent) -> list[Any]:
    """A row in column order, less position, stream version and digest."""
    payload = orjson.dumps(new.payload, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return [new.stream_id, new.type, new.schema_version, payload.decode(), new.actor,
            new.platform, new.correlation_id, new.causation_id,
            format_time(new.occurred_at or utcnow()), new.idempotency_key]


_KEY = 9  # index of the idempotency key in a prepared row


def _raw_insert(cursor, rows: list[list[Any]], sqlite: bool) -> None:
    if sqlite:
        # One multi-row INSERT per chunk: executemany steps (and hands the GIL back and forth
        # with the request-serving thread) once per row.
        one = f"({', '.join('?' * len(COLUMNS))})"
        for start in range(0, len(rows), _SQLITE_ROWS):
            chunk = rows[start:start + _SQLITE_ROWS]
            cursor.execute(f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES "
                           + ", ".join([one] * len(chunk)), [v for row in chunk for v in row])
        return
    # PostgreSQL: COPY is one round trip and the cheapest way in for many rows.
    with cursor.copy(f"COPY events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _raw_by_keys(cursor, keys: list[str], mark: str) -> dict[str, RecordedEvent]:
    found: dict[str, RecordedEvent] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        if mark == "%s":
            columns = ", ".join(f"e.{c}" for c in COLUMNS)
            cursor.execute(f"SELECT {columns} FROM unnest(%s::text[]) AS k(key) "
                           "JOIN events e ON e.idempotency_key = k.key", [chunk])
        else:
            cursor.execute(f"SELECT {', '.join(COLUMNS)} FROM events WHERE idempotency_key IN "
                           f"({', '.join('?' * len(chunk))})", chunk)
        for row in cursor.fetchall():
            found[row[11]] = row_to_event(row)
    return found


def _raw_stream_versions(cursor, streams: set[str], mark: str) -> dict[str, int]:
    versions: dict[str, int] = {}
    ordered = sorted(streams)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start:start + _CHUNK]
        # One index probe per stream (max of the unique index), not a scan of its history.
        if mark == "%s":
            source, args = "unnest(%s::text[]) AS s(id)", [chunk]
        else:
            source = "(SELECT column1 AS id FROM (VALUES " + ", ".join(["(?)"] * len(chunk)) + "))"
            source, args = source + " AS s", chunk
        cursor.execute(f"SELECT s.id, (SELECT MAX(stream_version) FROM events "
                       f"WHERE stream_id = s.id) FROM {source}", args)
        versions.update({sid: v for sid, v in cursor.fetchall() if v is not None})
    return versions


def _by_keys(conn, keys: list[str]) -> dict[str, RecordedEvent]:
    found: dict[str, RecordedEvent] = {}
    columns = [events.c[name] for name in COLUMNS]
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        query = select(*columns).where(events.c.idempotency_key.in_(chunk))
        for row in conn.execute(query):
            found[row.idempotency_key] = row_to_event(row)
    return found


def _stream_versions(conn, streams: set[str]) -> dict[str, int]:
    versions: dict[str, int] = {}
    ordered = sorted(streams)
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start:start + _CHUNK]
        query = (select(events.c.stream_id, func.max(events.c.stream_version))
                 .where(events.c.stream_id.in_(chunk)).group_by(events.c.stream_id))
        versions.update({stream: version for stream, version in conn.execute(query)})
    return versions
