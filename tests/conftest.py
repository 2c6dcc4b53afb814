"""Shared fixtures: settings on a temporary data dir, fresh PostgreSQL databases, Redis, and
a running bot driven through the local talk room's HTTP API."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from bot.config import Settings, load

PG_ADMIN = os.environ.get("CHONAI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("CHONAI_TEST_REDIS", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(what: str, exc: Exception) -> None:
    if IN_CI:
        pytest.fail(f"{what} must be running in CI: {type(exc).__name__}: {exc}")
    pytest.skip(f"{what} is not running here ({type(exc).__name__}); CI starts it")


@pytest.fixture
def make_settings(tmp_path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        env = {"CHONAI_DATA_DIR": str(tmp_path / "data"), "CHONAI_PII_KEY": "test-key",
               "CHONAI_SLACK_SYNC_AT": "off"}  # tests run the daily Slack sync themselves
        settings = load(env, path=str(tmp_path / "none.toml"))
        extra = {**settings.extra, **overrides.pop("extra", {})}  # added to, not replaced
        values = {**settings.__dict__, **overrides, "extra": extra}
        return Settings(**values)
    return make


@pytest.fixture
def pg_url() -> Any:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"chonai_{uuid.uuid4().hex[:12]}"
    admin_url = PG_ADMIN
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001
        _unavailable("PostgreSQL", exc)
    base = admin_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception:
        pass


@pytest.fixture
def redis_url() -> str:
    import redis

    try:
        client = redis.from_url(REDIS, socket_timeout=2)
        client.flushdb()
        client.close()
    except Exception as exc:  # noqa: BLE001
        _unavailable("Redis", exc)
    return REDIS


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """Runs a test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    return request.getfixturevalue("pg_url")


class TalkRoom:
    """Drives a running bot through the local talk room API, as the page does."""

    def __init__(self, server: TestServer, session: ClientSession, app: Any) -> None:
        self.server = server
        self.session = session
        self.app = app

    @property
    def runtime(self):
        from bot.app import RUNTIME

        return self.app[RUNTIME]

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        async with self.session.post(self.url(path), json=body) as resp:
            return resp.status, await resp.json(content_type=None)

    async def say(self, room: str, user: str, text: str, **extra: Any) -> dict:
        status, data = await self.post(f"/api/rooms/{room}/messages",
                                       {"user": user, "text": text, **extra})
        assert status in (200, 201), (status, data)
        return data

    async def messages(self, room: str, user: str | None = None) -> list[dict]:
        params = {"user": user} if user else {}
        async with self.session.get(self.url(f"/api/rooms/{room}/messages"),
                                    params=params) as resp:
            assert resp.status == 200, await resp.text()
            return (await resp.json())["messages"]

    async def wait_for(self, room: str, user: str | None,
                       predicate: Callable[[dict], bool], timeout: float = 15.0) -> dict:
        """The first bot message in `room` (as `user` sees it) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in await self.messages(room, user):
                if message["user"] == "chonai" and predicate(message):
                    return message
            await asyncio.sleep(0.05)
        seen = [m["text"][:120] for m in await self.messages(room, user)][-5:]
        raise AssertionError(f"no matching bot message in {room} within {timeout}s; last: {seen}")

    async def press(self, room: str, user: str, message: dict, action_id: str,
                    value: str = "") -> tuple[int, Any]:
        return await self.post(f"/api/rooms/{room}/actions", {
            "user": user, "message_id": message["id"], "action_id": action_id, "value": value})

    async def read(self, room: str, user: str, message: dict) -> tuple[int, Any]:
        return await self.post(f"/api/rooms/{room}/read",
                               {"user": user, "message_id": message["id"]})

    async def settle(self, timeout: float = 15.0) -> None:
        """Wait until every incoming event is handled and the outbox is empty."""
        from store import outbox

        runtime = self.runtime
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            received = await asyncio.to_thread(runtime.store.read, 0,
                                               types=["incoming.received"], limit=10**6)
            handled = await asyncio.to_thread(runtime.store.read, 0,
                                              types=["incoming.handled"], limit=10**6)
            await runtime.projections.catch_up_all()
            backlog = await asyncio.to_thread(outbox.backlog, runtime.engine)
            if len(received) == len(handled) and backlog == 0:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("bot did not settle")


@pytest.fixture
async def start_bot(make_settings) -> AsyncIterator[Callable[..., Any]]:
    """Start a bot (aiohttp server on a free loopback port); stopped after the test."""
    from bot.app import build_app

    started: list[tuple[TestServer, ClientSession]] = []

    async def start(settings: Settings | None = None, **overrides: Any) -> TalkRoom:
        settings = settings or make_settings(**overrides)
        app = build_app(settings)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        session = ClientSession()
        started.append((server, session))
        return TalkRoom(server, session, app)

    yield start
    for server, session in reversed(started):
        await session.close()
        await server.close()


@pytest.fixture
async def bot(start_bot) -> TalkRoom:
    return await start_bot()
