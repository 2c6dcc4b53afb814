"""The outbox: each post delivered once, across crashes, failures and 429s."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, update

from bot.adapters import DeliveryError, RetryAfter
from bot.delivery import DeliveryWorker
from handlers.messages import Outbound
from store import outbox
from store.db import make_engine, write_transaction
from store.events import EventStore, NewEvent
from store.migrate import upgrade
from store.outbox import OutboxProjection
from store.projections import ProjectionRunner
from store.schema import outbox as outbox_table


class Platform:
    """A platform stand-in that records posts and can fail on demand."""

    platform = "fake"

    def __init__(self) -> None:
        self.posts: dict[int, str] = {}
        self.failures: list[Exception] = []
        self.calls = 0

    async def deliver(self, job_id: int, out: Outbound, previous: Any) -> dict[str, Any]:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        self.posts[job_id] = out.text
        return {"id": job_id}

    async def lookup(self, job_id: int, out: Outbound) -> dict[str, Any] | None:
        return {"id": job_id} if job_id in self.posts else None


async def _setup(database_url, platform):
    engine = make_engine(database_url)
    upgrade(engine)
    store = EventStore(engine)
    await store.start()
    runner = ProjectionRunner(engine, [OutboxProjection()])
    worker = DeliveryWorker(store, {"fake": platform}, owner="w1",
                            before_claim=runner.catch_up_all)
    return engine, store, worker


async def _request(store, n: int) -> None:
    await store.append(*(NewEvent("outbound.requested", "outbox:fake:r",
                                  Outbound("fake", f"r{i % 3}", f"post {i}").to_payload())
                         for i in range(n)))


async def test_each_post_is_delivered_once_and_recorded(database_url):
    platform = Platform()
    engine, store, worker = await _setup(database_url, platform)
    await _request(store, 12)
    while await worker.run_once():
        pass
    assert sorted(platform.posts.values()) == sorted(f"post {i}" for i in range(12))
    assert len(store.read(0, types=["outbound.delivered"])) == 12
    assert outbox.counts(engine) == {"done": 12}
    await store.stop()


async def test_a_crash_after_sending_is_reconciled_not_resent(database_url):
    platform = Platform()
    engine, store, worker = await _setup(database_url, platform)
    await _request(store, 1)
    await worker.before_claim()
    [job] = outbox.claim(engine, "dead-instance", lease=0.01)
    await platform.deliver(job.id, Outbound.from_payload(job.body), None)  # sent, then "crash"
    await asyncio.sleep(0.05)  # the dead instance's lease runs out
    assert await worker.run_once()
    assert platform.calls == 1  # looked up, not posted again
    assert outbox.counts(engine) == {"done": 1}
    await store.stop()


async def test_failures_are_retried_then_recorded(database_url):
    platform = Platform()
    engine, store, worker = await _setup(database_url, platform)
    platform.failures = [DeliveryError("server_error"), RetryAfter(0)]
    await _request(store, 1)
    for _ in range(3):
        await worker.run_once()
        with write_transaction(engine) as conn:  # skip the backoff wait
            conn.execute(update(outbox_table).values(next_attempt_at=0))
    assert list(platform.posts.values()) == ["post 0"]
    platform.failures = [DeliveryError("channel_not_found", permanent=True)]
    await _request(store, 1)
    await worker.run_once()
    assert outbox.counts(engine) == {"done": 1, "failed": 1}
    [failed] = store.read(0, types=["outbound.failed"])
    assert failed.payload["reason"] == "channel_not_found"
    await store.stop()


async def test_two_workers_never_take_the_same_post(database_url):
    platform = Platform()
    engine, store, worker = await _setup(database_url, platform)
    other = DeliveryWorker(store, {"fake": platform}, owner="w2",
                           before_claim=worker.before_claim)
    await _request(store, 60)
    await asyncio.gather(worker.run_once(), other.run_once(), worker.run_once())
    while await worker.run_once():
        pass
    assert platform.calls == 60 and len(platform.posts) == 60
    with engine.connect() as conn:
        owners = {r[0] for r in conn.execute(select(outbox_table.c.lease_owner))}
    assert owners == {None}
    await store.stop()


async def test_bot_keeps_serving_when_redis_is_away(start_bot):
    bot = await start_bot(redis_url="redis://127.0.0.1:1/0")
    await bot.say("general", "u1", "/help")
    reply = await bot.wait_for("general", None, lambda m: "/draft" in m["text"])
    assert reply


async def test_replay_keeps_delivered_posts_and_sends_nothing_twice(database_url):
    from store.projections import rebuild

    platform = Platform()
    engine, store, worker = await _setup(database_url, platform)
    await _request(store, 5)
    while await worker.run_once():
        pass
    assert rebuild(engine, OutboxProjection()) == 5
    assert outbox.counts(engine) == {"done": 5}
    assert not await worker.run_once()
    assert platform.calls == 5
    await store.stop()
