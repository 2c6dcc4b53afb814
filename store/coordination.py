"""Coordination between bot processes: dedupe with expiry, locks, rate-limit buckets, publish.

`MemoryCoordination` serves one process; `RedisCoordination` serves several, chosen by
REDIS_URL. When Redis goes away the Redis one degrades to answers that stay correct
(the database's idempotency keys still stop duplicates) and logs it; it never raises.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger(__name__)

Subscriber = Callable[[str], Awaitable[None]]


class Coordination(Protocol):
    async def first_seen(self, key: str, ttl: float) -> bool: ...
    async def acquire(self, name: str, ttl: float) -> str | None: ...
    async def release(self, name: str, token: str) -> None: ...
    async def take(self, bucket: str, rate: float, burst: int) -> float: ...
    async def publish(self, channel: str, message: str) -> None: ...
    async def subscribe(self, channel: str, callback: Subscriber) -> None: ...
    async def close(self) -> None: ...


class MemoryCoordination:
    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._locks: dict[str, tuple[str, float]] = {}
        self._buckets: dict[str, tuple[float, float]] = {}
        self._subscribers: dict[str, list[Subscriber]] = {}

    def _expire(self) -> None:
        now = time.monotonic()
        if len(self._seen) > 10_000:
            self._seen = {k: v for k, v in self._seen.items() if v > now}

    async def first_seen(self, key: str, ttl: float) -> bool:
        now = time.monotonic()
        self._expire()
        if self._seen.get(key, 0) > now:
            return False
        self._seen[key] = now + ttl
        return True

    async def acquire(self, name: str, ttl: float) -> str | None:
        now = time.monotonic()
        holder = self._locks.get(name)
        if holder and holder[1] > now:
            return None
        token = uuid.uuid4().hex
        self._locks[name] = (token, now + ttl)
        return token

    async def release(self, name: str, token: str) -> None:
        if self._locks.get(name, ("",))[0] == token:
            del self._locks[name]

    async def take(self, bucket: str, rate: float, burst: int) -> float:
        """Take one token; returns seconds to wait first (0 when a token was free)."""
        now = time.monotonic()
        tokens, stamp = self._buckets.get(bucket, (float(burst), now))
        tokens = min(float(burst), tokens + (now - stamp) * rate)
        tokens -= 1
        self._buckets[bucket] = (tokens, now)
        return 0.0 if tokens >= 0 else -tokens / rate

    async def publish(self, channel: str, message: str) -> None:
        for callback in list(self._subscribers.get(channel, ())):
            await callback(message)

    async def subscribe(self, channel: str, callback: Subscriber) -> None:
        self._subscribers.setdefault(channel, []).append(callback)

    async def close(self) -> None:
        self._subscribers.clear()


_TAKE = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 't') or ARGV[2])
local stamp = tonumber(redis.call('HGET', KEYS[1], 's') or ARGV[3])
local now = tonumber(ARGV[3])
tokens = math.min(tonumber(ARGV[2]), tokens + (now - stamp) * tonumber(ARGV[1])) - 1
redis.call('HSET', KEYS[1], 't', tokens, 's', now)
redis.call('EXPIRE', KEYS[1], 3600)
return tostring(tokens)
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisCoordination:
    """Redis-backed; every call survives Redis being away (logged, degraded answer)."""

    def __init__(self, url: str, prefix: str = "chonai:") -> None:
        import redis.asyncio as redis

        self.redis = redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0,
                                    health_check_interval=10)
        self.prefix = prefix
        self.fallback = MemoryCoordination()  # used while Redis is away
        self._tasks: list[asyncio.Task] = []
        self._down_logged = False

    def _down(self, exc: Exception) -> None:
        if not self._down_logged:
            log.warning("redis unavailable, degraded mode: %s", type(exc).__name__)
            self._down_logged = True

    def _up(self) -> None:
        if self._down_logged:
            log.info("redis available again")
            self._down_logged = False

    async def first_seen(self, key: str, ttl: float) -> bool:
        try:
            fresh = await self.redis.set(self.prefix + "seen:" + key, "1", nx=True,
                                         px=int(ttl * 1000))
            self._up()
            return bool(fresh)
        except Exception as exc:
            self._down(exc)
            return await self.fallback.first_seen(key, ttl)

    async def acquire(self, name: str, ttl: float) -> str | None:
        token = uuid.uuid4().hex
        try:
            ok = await self.redis.set(self.prefix + "lock:" + name, token, nx=True,
                                      px=int(ttl * 1000))
            self._up()
            return token if ok else None
        except Exception as exc:
            self._down(exc)
            return await self.fallback.acquire(name, ttl)

    async def release(self, name: str, token: str) -> None:
        try:
            await self.redis.eval(_RELEASE, 1, self.prefix + "lock:" + name, token)
        except Exception as exc:
            self._down(exc)
            await self.fallback.release(name, token)

    async def take(self, bucket: str, rate: float, burst: int) -> float:
        try:
            left = float(await self.redis.eval(_TAKE, 1, self.prefix + "bucket:" + bucket,
                                               rate, burst, time.time()))
            self._up()
            return 0.0 if left >= 0 else -left / rate
        except Exception as exc:
            self._down(exc)
            return await self.fallback.take(bucket, rate, burst)

    async def publish(self, channel: str, message: str) -> None:
        try:
            await self.redis.publish(self.prefix + channel, message)
            self._up()
        except Exception as exc:
            self._down(exc)
            await self.fallback.publish(channel, message)

    async def subscribe(self, channel: str, callback: Subscriber) -> None:
        await self.fallback.subscribe(channel, callback)
        self._tasks.append(asyncio.create_task(self._listen(channel, callback)))

    async def _listen(self, channel: str, callback: Subscriber) -> None:
        while True:
            try:
                pubsub = self.redis.pubsub()
                await pubsub.subscribe(self.prefix + channel)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        data = message["data"]
                        await callback(data.decode() if isinstance(data, bytes) else data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._down(exc)
                await asyncio.sleep(1)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.redis.aclose()
        except Exception:
            pass


def connect(redis_url: str) -> Coordination:
    return RedisCoordination(redis_url) if redis_url else MemoryCoordination()
