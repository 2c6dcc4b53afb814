"""The delivery worker: claims outbox rows and posts them through their platform's adapter.

Posts to one room go out in order; different rooms go out concurrently. A 429 waits only
for its own room; failures are retried with backoff and finally recorded as failed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from bot.adapters import Adapter, DeliveryError, RetryAfter
from handlers.messages import Outbound
from store import outbox
from store.events import EventStore, NewEvent
from store.outbox import Job

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


def backoff(attempt: int) -> float:
    return min(300.0, 2.0 ** attempt) * (0.5 + random.random() / 2)


class DeliveryWorker:
    def __init__(self, store: EventStore, adapters: dict[str, Adapter], *, owner: str,
                 before_claim: Callable[[], Awaitable[Any]] | None = None,
                 concurrency: int = 64, lease: float = 30.0) -> None:
        self.store = store
        self.adapters = adapters
        self.owner = owner
        self.before_claim = before_claim
        self.concurrency = concurrency
        self.lease = lease
        self.delivered = 0
        self._wake = store.subscribe()
        self._stopping = False
        self._done: list[tuple[int, dict[str, Any]]] | None = None  # posts of the current batch

    async def run(self, poll: float = 0.5) -> None:
        while not self._stopping:
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("delivery paused: %s", type(exc).__name__)
                busy = False
                await asyncio.sleep(1)
            if busy:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), poll)
            except TimeoutError:
                pass
            self._wake.clear()

    def stop(self) -> None:
        self._stopping = True

    async def run_once(self) -> bool:
        """Deliver one claimed batch; True if there was anything to do."""
        if self.before_claim is not None:
            await self.before_claim()
        jobs = await asyncio.to_thread(
            outbox.claim, self.store.engine, self.owner, limit=self.concurrency * 4,
            lease=self.lease, platforms=list(self.adapters))
        if not jobs:
            return False
        by_target: dict[tuple[str, str], list[Job]] = defaultdict(list)
        for job in jobs:
            by_target[(job.platform, job.target)].append(job)
        gate = asyncio.Semaphore(self.concurrency)
        self._done = []

        async def lane(lane_jobs: list[Job]) -> None:
            async with gate:
                for job in lane_jobs:
                    await self.deliver(job)

        try:
            await asyncio.gather(*(lane(j) for j in by_target.values()))
        finally:
            # Delivered posts are marked done together. A crash before this leaves them
            # "sending": after the lease they are looked up at the platform, not re-sent.
            done, self._done = self._done, None
            await asyncio.to_thread(outbox.complete_many, self.store.engine, done)
        return True

    async def deliver(self, job: Job) -> None:
        adapter = self.adapters[job.platform]
        out = Outbound.from_payload(job.body)
        engine = self.store.engine
        if out.sealed:
            from dataclasses import replace

            from store.sealed import unseal

            text = await asyncio.to_thread(unseal, engine, out.sealed)
            out = replace(out, text=text if text is not None else "（保存期間を過ぎたため表示できません）",
                          sealed=None)
        try:
            if job.unknown:
                found = await adapter.lookup(job.id, out)
                if found is not None:
                    await self._record(job, out, found)
                    return
            previous = None
            if out.update and out.ref:
                previous = await asyncio.to_thread(outbox.delivered_ref, engine, job.platform,
                                                   out.ref)
            result = await adapter.deliver(job.id, out, previous)
        except RetryAfter as wait:
            await asyncio.to_thread(outbox.retry_later, engine, job.id, wait.seconds, "429")
            return
        except Exception as exc:
            await self._failed(job, exc)
            return
        await self._record(job, out, result)

    async def _record(self, job: Job, out: Outbound, result: dict[str, Any]) -> None:
        await self.store.append(NewEvent(
            "outbound.delivered", f"outbox:{job.platform}:{job.target}",
            {"outbox_id": job.id, "result": result, "attempts": job.attempts + 1,
             **_ref(job)},
            platform=job.platform, causation_id=str(job.id),
            idempotency_key=f"delivered:{job.id}"))
        if self._done is None:
            await asyncio.to_thread(outbox.complete, self.store.engine, job.id, result)
        else:
            self._done.append((job.id, result))
        self.delivered += 1

    async def _failed(self, job: Job, exc: Exception) -> None:
        reason = exc.reason if isinstance(exc, DeliveryError) else type(exc).__name__
        permanent = isinstance(exc, DeliveryError) and exc.permanent
        attempts = job.attempts + 1
        if permanent or attempts >= MAX_ATTEMPTS:
            log.warning("post %s failed for good: %s", job.id, reason)
            await self.store.append(NewEvent(
                "outbound.failed", f"outbox:{job.platform}:{job.target}",
                {"outbox_id": job.id, "reason": reason[:200], "attempts": attempts,
                 **_ref(job)},
                platform=job.platform, causation_id=str(job.id),
                idempotency_key=f"failed:{job.id}"))
            await asyncio.to_thread(outbox.fail, self.store.engine, job.id, reason[:200])
        else:
            log.info("post %s retry %s: %s", job.id, attempts, reason)
            await asyncio.to_thread(outbox.retry_later, self.store.engine, job.id,
                                    backoff(attempts), reason[:200])


def _ref(job: Job) -> dict[str, str]:
    """The post's ref, for read models that follow what became of it (e.g. broadcast receipts)."""
    return {"ref": job.body["ref"]} if job.body.get("ref") else {}
