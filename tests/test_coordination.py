"""One conformance suite for the coordination protocol: in-process and Redis."""

from __future__ import annotations

import asyncio

import pytest

from store.coordination import MemoryCoordination, RedisCoordination


@pytest.fixture(params=["memory", "redis"])
async def coordination(request):
    if request.param == "memory":
        impl = MemoryCoordination()
    else:
        impl = RedisCoordination(request.getfixturevalue("redis_url"))
    yield impl
    await impl.close()


async def test_first_seen_dedupes_until_expiry(coordination):
    assert await coordination.first_seen("ev1", 0.3) is True
    assert await coordination.first_seen("ev1", 0.3) is False
    assert await coordination.first_seen("ev2", 0.3) is True
    await asyncio.sleep(0.4)
    assert await coordination.first_seen("ev1", 0.3) is True


async def test_lock_is_exclusive_and_released_by_its_holder_only(coordination):
    token = await coordination.acquire("job", 5)
    assert token
    assert await coordination.acquire("job", 5) is None
    await coordination.release("job", "not-the-token")
    assert await coordination.acquire("job", 5) is None
    await coordination.release("job", token)
    assert await coordination.acquire("job", 5)


async def test_lock_expires(coordination):
    assert await coordination.acquire("short", 0.2)
    await asyncio.sleep(0.3)
    assert await coordination.acquire("short", 0.2)


async def test_rate_limit_bucket(coordination):
    waits = [await coordination.take("channel:C1", 1.0, 2) for _ in range(4)]
    assert waits[0] == 0 and waits[1] == 0
    assert 0.5 < waits[2] <= 1.1 and waits[3] > waits[2]
    assert await coordination.take("channel:C2", 1.0, 2) == 0  # buckets are separate


async def test_publish_reaches_subscribers(coordination):
    got: list[str] = []
    received = asyncio.Event()

    async def on_message(message: str) -> None:
        got.append(message)
        received.set()

    await coordination.subscribe("room:general", on_message)
    await asyncio.sleep(0.2)  # let a Redis subscription settle
    await coordination.publish("room:general", "updated")
    await asyncio.wait_for(received.wait(), 5)
    assert "updated" in got


async def test_redis_away_degrades_without_raising():
    coordination = RedisCoordination("redis://127.0.0.1:1/0")  # nothing listens there
    assert await coordination.first_seen("k", 10) is True
    assert await coordination.first_seen("k", 10) is False  # the in-process fallback
    assert await coordination.acquire("l", 10)
    assert await coordination.take("b", 1, 1) == 0
    await coordination.publish("c", "m")
    await coordination.close()
