"""Wires one bot process: database, event log, projections, dispatcher, delivery, adapters."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from bot.adapters import Adapter
from bot.config import Settings, database_url
from bot.delivery import DeliveryWorker
from bot.metrics import Metrics
from commands.context import Services
from commands.registry import Registry, build_registry
from handlers.dispatcher import Dispatcher
from handlers.intake import incoming_event
from handlers.messages import Incoming
from store import coordination as coordination_mod
from store import leases
from store.db import make_engine
from store.events import EventStore, RecordedEvent, utcnow
from store.migrate import upgrade
from store.outbox import OutboxProjection
from store.projections import ProjectionRunner

log = logging.getLogger(__name__)

ACK_PRIORITY_MAX = 3.0  # seconds background work may wait for a burst of acks to pass


def pii_key(settings: Settings) -> bytes | None:
    """The key for audit hashes of PII findings, only when given from outside the data
    directory: a key kept beside the data would let a copy of it brute-force the values back."""
    return settings.pii_key.encode() if settings.pii_key else None


def command_modules() -> list[Any]:
    import importlib
    import pkgutil

    import commands

    return [importlib.import_module(f"commands.{info.name}")
            for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name)]


def projections_for(registry: Registry) -> list[Any]:
    """The outbox plus every projection a command module declares in `PROJECTIONS`."""
    found: list[Any] = [OutboxProjection()]
    for module in command_modules():
        found.extend(getattr(module, "PROJECTIONS", ()))
    return found


class Runtime:
    def __init__(self, settings: Settings, *, migrate: bool = True) -> None:
        self.settings = settings
        self.owner = leases.owner_name(settings.instance)
        self.engine = make_engine(database_url(settings))
        if migrate:
            upgrade(self.engine)
        self.metrics = Metrics()
        self.store = EventStore(self.engine)
        self.registry = build_registry()
        self.coordination = coordination_mod.connect(settings.redis_url)
        self.key = pii_key(settings)
        self.services = Services(store=self.store, settings=settings, registry=self.registry,
                                 clock=utcnow)
        self.services.features["pii_key"] = self.key
        self.services.features["guard"] = self._guard()
        self.services.features["coordination"] = self.coordination
        self.services.features["metrics"] = self.metrics
        self.services.features["engine"] = self.engine
        self.services.features["owner"] = self.owner
        # A command module may offer `configure(services)` (set up its services, e.g. the AI
        # client) and `async background(services)` (a long-running job, e.g. reminders).
        self._modules = command_modules()
        for module in self._modules:
            if hasattr(module, "configure"):
                module.configure(self.services)
        self.projections = ProjectionRunner(self.engine, projections_for(self.registry))
        self.services.features["catch_up"] = self.projections.catch_up_all
        self.adapters: dict[str, Adapter] = {}
        self._accepting, self._accepted_at = 0, 0.0
        # Seconds since the last request was acknowledged: optional work waits for a lull.
        self.services.features["quiet_for"] = lambda: time.monotonic() - self._accepted_at
        self.dispatcher = Dispatcher(self.services, owner=self.owner,
                                     before_dispatch=self._after_acks,
                                     observe=self._observe)
        self.worker: DeliveryWorker | None = None
        self._tasks: list[asyncio.Task] = []

    def _guard(self) -> Any | None:
        try:
            from handlers.pii import Guard
        except ImportError:  # the guard is part of the product; without it nothing goes to AI
            log.warning("PII guard not available")
            return None
        allow = [a.strip() for a in self.settings.pii_allow.split(",") if a.strip()]
        return Guard(allow=allow)

    def _observe(self, kind: str, seconds: float) -> None:
        self.metrics.handler_seconds.labels(kind).observe(seconds)

    def add_adapter(self, adapter: Adapter) -> None:
        self.adapters[adapter.platform] = adapter

    async def accept(self, incoming: Incoming) -> RecordedEvent:
        """Durably record an incoming request (the step before the platform's 200)."""
        self._accepting += 1
        try:
            new = await incoming_event(incoming, registry=self.registry,
                                       guard=self.services.get("guard"), key=self.key,
                                       seal=self.services.get("seal"))
            [recorded] = await self.store.append(new)
        finally:
            self._accepting -= 1
            self._accepted_at = time.monotonic()
        self.metrics.events.inc()
        return recorded

    async def _after_acks(self) -> int:
        """Dispatch and delivery wait (boundedly) while requests are being acknowledged: the
        platform's 3-second budget is for the ack; the work is in the log and can follow."""
        deadline = time.monotonic() + ACK_PRIORITY_MAX
        while ((self._accepting or time.monotonic() - self._accepted_at < 0.005)
               and time.monotonic() < deadline):
            await asyncio.sleep(0.005)
        return await self.projections.catch_up_all()

    async def start(self) -> None:
        await self.store.start()
        from store import outbox

        try:  # what a killed predecessor was sending is reconciled now, not after its lease
            await asyncio.to_thread(outbox.release_predecessors, self.engine, self.owner,
                                    explicit_instance=bool(self.settings.instance))
        except Exception as exc:  # database away at start: the leases expire as before
            log.warning("could not release a predecessor's posts: %s", type(exc).__name__)
        self.worker = DeliveryWorker(self.store, self.adapters, owner=self.owner,
                                     before_claim=self._after_acks)
        from bot import anchoring

        self._tasks = [asyncio.create_task(self.dispatcher.run(), name="dispatcher"),
                       asyncio.create_task(anchoring.run(self), name="anchoring"),
                       asyncio.create_task(self.worker.run(), name="delivery"),
                       asyncio.create_task(self._gauges(), name="gauges")]
        for module in self._modules:
            if hasattr(module, "background"):
                self._tasks.append(asyncio.create_task(
                    self._keep_running(module), name=f"background:{module.__name__}"))

    async def _keep_running(self, module: Any) -> None:
        """A background job that fails is logged and restarted, never fatal."""
        while True:
            try:
                await module.background(self.services)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("background job %s failed: %s", module.__name__, type(exc).__name__)
                await asyncio.sleep(5)

    async def _gauges(self) -> None:
        from store import outbox

        while True:
            try:
                self.metrics.outbox_backlog.set(await asyncio.to_thread(outbox.backlog,
                                                                        self.engine))
            except Exception as exc:
                log.warning("metrics gauge failed: %s", type(exc).__name__)
            await asyncio.sleep(5)

    async def stop(self) -> None:
        """Graceful: finish handlers in flight, then stop; anything left stays in the log."""
        try:
            await asyncio.wait_for(self.dispatcher.drain(), 10)
        except Exception as exc:
            log.warning("drain incomplete: %s", type(exc).__name__)
        if self.worker:
            self.worker.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:  # a clean stop hands the singleton jobs over at once
            await asyncio.to_thread(leases.release_all, self.engine, self.owner)
        except Exception as exc:
            log.warning("could not release leases: %s", type(exc).__name__)
        await self.store.stop()
        from bot import anchoring

        try:  # the last head, signed at shutdown
            await asyncio.to_thread(anchoring.sign_head, self.settings, self.store)
        except Exception as exc:
            log.warning("could not sign the head at shutdown: %s", type(exc).__name__)
        await self.coordination.close()
        self.engine.dispose()
