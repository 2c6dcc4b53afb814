"""Runs the work after the acknowledgement: follows `incoming.received` events in the log and
hands each to its command, action or mention handler.

What a handler produces (replies, events) is appended in one transaction together with a
`incoming.handled` marker, all under idempotency keys derived from the incoming event's
position: a crash at any point means the event is handled again, never twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from handlers.context import Context, Services
from handlers.messages import Incoming
from handlers.router import route
from store import leases
from store.db import write_transaction
from store.events import NewEvent, RecordedEvent
from store.projections import checkpoint, set_checkpoint

log = logging.getLogger(__name__)

NAME = "dispatcher"
ERROR_TEXT = "処理中にエラーが発生しました。時間をおいてもう一度お試しください。続く場合は情報システム担当へご連絡ください。"


def unknown_command_text(name: str, meant: str | None = None) -> str:
    if meant:
        return (f"「/{name}」というコマンドはありません。/{meant} のことですか？"
                f"そうであれば /{meant} で送り直してください。")
    return (f"「/{name}」というコマンドはありません。"
            "使えるコマンドは /help で確認できます。")


class Dispatcher:
    def __init__(self, services: Services, *, owner: str,
                 before_dispatch: Callable[[], Awaitable[None]] | None = None,
                 concurrency: int = 64, observe: Callable[[str, float], None] | None = None,
                 ) -> None:
        self.services = services
        self.store = services.store
        self.owner = owner
        self.before_dispatch = before_dispatch
        self.limit = asyncio.Semaphore(concurrency)
        self.observe = observe
        self._room_locks: dict[str, asyncio.Lock] = {}
        self._inflight: set[int] = set()
        self._tasks: set[asyncio.Task] = set()
        self._dispatched = 0
        self._saved = 0
        self._wake = self.store.subscribe()
        self._stopping = False

    async def run(self, poll: float = 0.5) -> None:
        """Follow the log until cancelled; only the lease holder dispatches."""
        engine = self.store.engine
        lease_checked = 0.0
        leader = False
        while not self._stopping:
            try:
                if time.monotonic() - lease_checked > 5:
                    leader = await asyncio.to_thread(
                        leases.acquire, engine, NAME, self.owner, 15,
                        explicit_instance=bool(self.services.settings.instance))
                    lease_checked = time.monotonic()
                if leader:
                    await self.dispatch_pending()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database away: keep trying, never crash the process
                log.warning("dispatcher paused: %s", type(exc).__name__)
                await asyncio.sleep(1)
            try:
                await asyncio.wait_for(self._wake.wait(), poll)
            except TimeoutError:
                pass
            self._wake.clear()

    async def dispatch_pending(self) -> int:
        """Start handling every incoming event not yet dispatched; returns how many."""
        engine = self.store.engine
        if not self._dispatched:
            self._dispatched = await asyncio.to_thread(_read_checkpoint, engine)
        batch = await asyncio.to_thread(self.store.read, self._dispatched,
                                        types=["incoming.received"], limit=2000)
        if not batch:
            await self._save_checkpoint()
            return 0
        if self.before_dispatch is not None:
            await self.before_dispatch()
        # One query for the whole batch instead of one per event: which were handled already
        # (by an instance that stopped before its checkpoint moved)?
        handled = await asyncio.to_thread(self.store.known_keys,
                                          [f"handled:{e.position}" for e in batch])
        for event in batch:
            if f"handled:{event.position}" in handled:
                continue
            self._inflight.add(event.position)
            task = asyncio.create_task(self._handle_guarded(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._dispatched = batch[-1].position
        await self._save_checkpoint()
        return len(batch)

    async def drain(self) -> None:
        """Wait for handlers in flight (graceful shutdown)."""
        self._stopping = True
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self._save_checkpoint()

    async def _save_checkpoint(self) -> None:
        # Everything below the oldest event still in flight is done.
        done = (min(self._inflight) - 1) if self._inflight else self._dispatched
        if done > self._saved:
            await asyncio.to_thread(_write_checkpoint, self.store.engine, done)
            self._saved = done

    async def _handle_guarded(self, event: RecordedEvent) -> None:
        room = event.stream_id
        lock = self._room_locks.setdefault(room, asyncio.Lock())
        delay = 0.5
        retry = False
        try:
            while True:
                try:
                    async with self.limit, lock:
                        await self.handle(event, check=retry)
                    self._inflight.discard(event.position)
                    break
                except Exception as exc:  # the database is away: try again, never drop it
                    if self._stopping:
                        log.warning("event %s left for the next start: %s", event.position,
                                    type(exc).__name__)
                        return  # stays in flight, so the checkpoint stays below it
                    log.warning("event %s not handled yet: %s", event.position, type(exc).__name__)
                    retry = True  # the failed attempt may have been recorded after all
                    await asyncio.sleep(delay)
                    delay = min(30.0, delay * 2)
        finally:
            if not lock.locked() and self._room_locks.get(room) is lock:
                self._room_locks.pop(room, None)

    async def handle(self, event: RecordedEvent, *, check: bool = True) -> None:
        """Run the handlers of one incoming event and record what they produced, once."""
        marker = f"handled:{event.position}"
        if check and await asyncio.to_thread(self.store.by_key, marker):
            return
        started = time.perf_counter()
        incoming = Incoming.from_payload(event.payload)
        ctx = Context(self.services, incoming, event)
        name = "none"
        for target in route(incoming, self.services.registry):
            name = target.name
            ctx.args = target.args
            if target.handler is None:
                if incoming.kind == "command":
                    meant = self.services.registry.suggest(target.name)
                    ctx.reply(unknown_command_text(target.name, meant.name if meant else None),
                              private=True)
                    ctx.emit("command.unknown", {"name": target.name[:50]}, event.stream_id)
                continue
            try:
                await target.handler(ctx)
            except Exception as exc:
                log.exception("handler %s failed: %s", target.name, type(exc).__name__)
                ctx.events.clear()
                ctx.reply(ERROR_TEXT, private=True)
                ctx.emit("command.failed", {"name": target.name, "error": type(exc).__name__},
                         event.stream_id)
        produced = [replace(new, idempotency_key=f"out:{event.position}:{i}",
                            causation_id=str(event.position))
                    for i, new in enumerate(ctx.events)]
        produced.append(NewEvent("incoming.handled", event.stream_id,
                                 {"position": event.position, "route": name[:100]},
                                 actor=incoming.user, platform=incoming.platform,
                                 causation_id=str(event.position), idempotency_key=marker))
        await self.store.append(*produced)
        if self.observe is not None:
            self.observe(incoming.kind, time.perf_counter() - started)


def _read_checkpoint(engine) -> int:
    with write_transaction(engine) as conn:
        return checkpoint(conn, NAME)


def _write_checkpoint(engine, position: int) -> None:
    with write_transaction(engine) as conn:
        current = checkpoint(conn, NAME, lock=True)
        if position > current:
            set_checkpoint(conn, NAME, position)
