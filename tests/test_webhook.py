"""The signed webhook adapter (LoGo chat relays): in and out, signatures both ways."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot import signing

SECRET = "relay-secret"


class Relay:
    """A stand-in relay: receives the bot's signed replies."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.bad_signatures = 0
        self.server: TestServer | None = None

    async def start(self) -> "Relay":
        app = web.Application()
        app.router.add_post("/out", self.out)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def out(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not signing.verify(SECRET, request.headers, body):
            self.bad_signatures += 1
            return web.json_response({"error": "bad signature"}, status=401)
        message = json.loads(body)
        message["delivery"] = request.headers["X-Chonai-Delivery"]
        self.received.append(message)
        return web.json_response({"message_id": f"m{len(self.received)}"})

    async def wait(self, predicate, timeout: float = 15) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.received:
                if predicate(message):
                    return message
            await asyncio.sleep(0.05)
        raise AssertionError(f"relay got nothing matching; got {self.received}")


@pytest.fixture
async def relay():
    r = await Relay().start()
    yield r
    await r.server.close()


@pytest.fixture
async def relayed(start_bot, relay):
    return await start_bot(webhook_secret=SECRET,
                           webhook_outbound_url=str(relay.server.make_url("/out")))


async def send(bot, message: dict, secret: str = SECRET, now: float | None = None) -> int:
    body = json.dumps(message, ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", **signing.headers(secret, body, now)}
    async with bot.session.post(bot.url("/webhook/inbound"), data=body, headers=headers) as resp:
        return resp.status


async def test_help_and_a_retried_delivery_get_one_signed_reply(relayed, relay):
    message = {"platform": "logochat", "room": "r1", "user": "u1", "text": "/help", "id": "m-1"}
    assert await send(relayed, message) == 200
    assert await send(relayed, message) == 200  # the relay retried
    reply = await relay.wait(lambda m: "/draft" in m["text"])
    assert reply["room"] == "r1" and reply["platform"] == "logochat"
    await relayed.settle()
    assert len([m for m in relay.received if "/draft" in m["text"]]) == 1
    assert relay.bad_signatures == 0


async def test_bad_signature_and_stale_timestamp_are_refused(relayed):
    message = {"platform": "logochat", "room": "r1", "user": "u1", "text": "/help"}
    assert await send(relayed, message, secret="wrong") == 401
    assert await send(relayed, message, now=time.time() - 600) == 401
    assert relayed.runtime.store.head()[0] == 0


@pytest.mark.parametrize("message", [
    {"platform": "logochat", "room": "r1", "text": "/help"},
    {"platform": "logochat", "room": "r1", "user": 5, "text": "/help"},
    {"platform": "logochat", "room": "r1", "user": "u", "location": {"lat": "x", "lon": 1}},
    [1, 2],
])
async def test_malformed_messages_get_400(relayed, message):
    assert await send(relayed, message) == 400
    assert relayed.runtime.store.head()[0] == 0


async def test_mention_button_and_location(relayed, relay):
    await send(relayed, {"platform": "logochat", "room": "r2", "user": "u1",
                         "text": "@chonai ヘルプ", "id": "m-2"})
    await relay.wait(lambda m: m["room"] == "r2" and "/help" in m["text"])
    await send(relayed, {"platform": "logochat", "room": "r3", "user": "u1",
                         "text": "/draft あいさつ文 着任のあいさつ", "id": "m-3"})
    draft = await relay.wait(lambda m: m["room"] == "r3" and m["buttons"])
    button = draft["buttons"][0]
    await send(relayed, {"platform": "logochat", "room": "r3", "user": "u1", "id": "m-4",
                         "action": {"id": button["id"], "value": button["value"]}})
    await relay.wait(lambda m: m["room"] == "r3" and "作成した下書き" in m["text"])
    await send(relayed, {"platform": "logochat", "room": "r4", "user": "u1", "id": "m-5",
                         "location": {"lat": 35.6812, "lon": 139.7671}})
    card = await relay.wait(lambda m: m["room"] == "r4")
    assert "https://maps.gsi.go.jp/#16/35.6812/139.7671/" in card["text"]
