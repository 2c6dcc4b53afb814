"""One conformance suite every adapter passes — the local talk room, Slack, LINE WORKS and the
signed webhook — each against a stand-in speaking its platform's wire format: /help, a
mention, a button press, a bad signature, a retried delivery."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot import signing
from tests import test_slack
from tests.slack_standin import BOT_TOKEN, SlackStandIn
from tests.test_webhook import Relay, SECRET as WEBHOOK_SECRET

LW_SECRET, LW_BOT = "lw-bot-secret", "2000001"


class LineWorksStandIn:
    """Token endpoint and message API of LINE WORKS API 2.0, recording every message."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.tokens = 0
        self.throttle = 0
        self.server: TestServer | None = None

    async def start(self) -> "LineWorksStandIn":
        app = web.Application()
        app.router.add_post("/oauth2/v2.0/token", self.token)
        app.router.add_post("/v1.0/bots/{bot}/users/{user}/messages", self.message)
        app.router.add_post("/v1.0/bots/{bot}/channels/{channel}/messages", self.message)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def token(self, request: web.Request) -> web.Response:
        import jwt

        form = await request.post()
        claims = jwt.decode(form["assertion"], options={"verify_signature": False})
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        assert claims["iss"] == "client-1" and claims["sub"] == "bot@example"
        self.tokens += 1
        return web.json_response({"access_token": f"tok{self.tokens}", "expires_in": "86400"})

    async def message(self, request: web.Request) -> web.Response:
        if not request.headers.get("Authorization", "").startswith("Bearer tok"):
            return web.json_response({"code": "UNAUTHORIZED"}, status=401)
        if self.throttle:
            self.throttle -= 1
            return web.json_response({"code": "TOO_MANY_REQUESTS"}, status=429,
                                     headers={"Retry-After": "0"})
        body = await request.json()
        self.messages.append({**request.match_info, **body})
        return web.Response(status=201)


def rsa_key(path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


# -- one driver per platform: send text, press a button, read what the bot said -------------------
class Local:
    def __init__(self, bot) -> None:
        self.bot = bot

    async def say(self, text: str, delivery: str) -> int:
        status, _ = await self.bot.post("/api/rooms/c1/messages",
                                        {"user": "u1", "text": text, "client_id": delivery})
        return status

    async def replies(self) -> list[dict[str, Any]]:
        return [{"text": m["text"], "buttons": [(b["action_id"], b["value"]) for b in m["buttons"]],
                 "id": m["id"]} for m in await self.bot.messages("c1", "u1") if m["user"] == "chonai"]

    async def press(self, reply, action_id: str, value: str) -> int:
        status, _ = await self.bot.post("/api/rooms/c1/actions", {
            "user": "u1", "message_id": reply["id"], "action_id": action_id, "value": value})
        return status

    async def forged(self) -> int:
        pytest.skip("the talk room signs nothing on loopback; beyond it sign-in tokens are "
                    "checked (test_talk_room.py::test_beyond_loopback_the_talk_room_requires_sign_in)")


class Slack:
    def __init__(self, bot, standin: SlackStandIn) -> None:
        self.bot, self.standin = bot, standin

    async def say(self, text: str, delivery: str) -> int:
        if text.startswith("/"):
            name, _, rest = text.partition(" ")
            body = test_slack.command(name, rest, trigger=delivery,
                                      response_url=self.standin.hook_url())
        else:
            body = json.dumps(test_slack.mention(text.replace("@chonai", "<@UBOT>"),
                                                 event_id=delivery))
        kind = "application/x-www-form-urlencoded" if text.startswith("/") else "application/json"
        status, _ = await test_slack.send(self.bot, body, content_type=kind)
        return status

    async def replies(self) -> list[dict[str, Any]]:
        found = []
        for post in [*self.standin.posts(), *self.standin.hook_posts]:
            buttons = [(a["action_id"].split("|#")[0], a.get("value", ""))
                       for block in post.get("blocks") or [] if block.get("type") == "actions"
                       for a in block.get("elements", [])]
            found.append({"text": post.get("text", ""), "buttons": buttons})
        return found

    async def press(self, reply, action_id: str, value: str) -> int:
        status, _ = await test_slack.send(self.bot, test_slack.block_actions(
            action_id, value, response_url=self.standin.hook_url(), trigger=f"press.{time.time()}"))
        return status

    async def forged(self) -> int:
        status, _ = await test_slack.send(self.bot, test_slack.command("/help"),
                                          signature="v0=" + "0" * 64)
        return status


class LineWorks:
    def __init__(self, bot, standin: LineWorksStandIn) -> None:
        self.bot, self.standin = bot, standin

    async def callback(self, data: dict, secret: str = LW_SECRET) -> int:
        body = json.dumps(data, ensure_ascii=False).encode()
        sig = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        async with self.bot.session.post(self.bot.url("/lineworks/callback"), data=body, headers={
                "X-WORKS-Signature": sig, "X-WORKS-BotId": LW_BOT,
                "Content-Type": "application/json"}) as resp:
            return resp.status

    async def say(self, text: str, delivery: str) -> int:
        return await self.callback({"type": "message", "issuedTime": delivery,
                                    "source": {"userId": "u1", "channelId": "ch1"},
                                    "content": {"type": "text", "text": text}})

    async def replies(self) -> list[dict[str, Any]]:
        found = []
        for message in self.standin.messages:
            content = message["content"]
            buttons = [tuple(a["postback"].split("\x1f", 1)) for a in content.get("actions", [])]
            found.append({"text": content.get("text") or content.get("contentText", ""),
                          "buttons": buttons})
        return found

    async def press(self, reply, action_id: str, value: str) -> int:
        return await self.callback({"type": "postback", "data": f"{action_id}\x1f{value}",
                                    "issuedTime": str(time.time()),
                                    "source": {"userId": "u1", "channelId": "ch1"}})

    async def forged(self) -> int:
        return await self.callback({"type": "message", "source": {"userId": "u1"},
                                    "content": {"type": "text", "text": "/help"}}, secret="wrong")


class Webhook:
    def __init__(self, bot, relay: Relay) -> None:
        self.bot, self.relay = bot, relay

    async def send(self, message: dict, secret: str = WEBHOOK_SECRET) -> int:
        body = json.dumps(message, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", **signing.headers(secret, body)}
        async with self.bot.session.post(self.bot.url("/webhook/inbound"), data=body,
                                         headers=headers) as resp:
            return resp.status

    async def say(self, text: str, delivery: str) -> int:
        return await self.send({"platform": "logochat", "room": "r1", "user": "u1", "text": text,
                                "id": delivery})

    async def replies(self) -> list[dict[str, Any]]:
        return [{"text": m["text"], "buttons": [(b["id"], b["value"]) for b in m["buttons"]]}
                for m in self.relay.received]

    async def press(self, reply, action_id: str, value: str) -> int:
        return await self.send({"platform": "logochat", "room": "r1", "user": "u1",
                                "id": f"press-{time.time()}", "action": {"id": action_id, "value": value}})

    async def forged(self) -> int:
        return await self.send({"platform": "logochat", "room": "r1", "user": "u1", "text": "/help"},
                               secret="wrong")


@pytest.fixture(params=["local", "slack", "lineworks", "webhook"])
async def platform(request, start_bot, tmp_path):
    closers = []
    if request.param == "local":
        driver = Local(await start_bot())
    elif request.param == "slack":
        standin = SlackStandIn()
        await standin.start()
        closers.append(standin.stop)
        driver = Slack(await start_bot(slack_bot_token=BOT_TOKEN, slack_signing_secret=test_slack.SECRET,
                                       slack_api_url=standin.api_url), standin)
    elif request.param == "lineworks":
        standin = await LineWorksStandIn().start()
        closers.append(standin.server.close)
        key = tmp_path / "lw.key"
        rsa_key(key)
        driver = LineWorks(await start_bot(extra={
            "lineworks_bot_id": LW_BOT, "lineworks_bot_secret": LW_SECRET,
            "lineworks_client_id": "client-1", "lineworks_client_secret": "cs",
            "lineworks_service_account": "bot@example", "lineworks_private_key": str(key),
            "lineworks_api_url": standin.url("/v1.0"),
            "lineworks_auth_url": standin.url("/oauth2/v2.0/token")}), standin)
    else:
        relay = await Relay().start()
        closers.append(relay.server.close)
        driver = Webhook(await start_bot(webhook_secret=WEBHOOK_SECRET,
                                         webhook_outbound_url=str(relay.server.make_url("/out"))),
                         relay)
    yield driver
    for close in closers:
        await close()


async def until(driver, predicate, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for reply in await driver.replies():
            if predicate(reply):
                return reply
        await asyncio.sleep(0.05)
    raise AssertionError(f"no matching reply; got {[r['text'][:60] for r in await driver.replies()]}")


async def test_help(platform):
    assert await platform.say("/help", "d-help") in (200, 201)
    await until(platform, lambda r: "/broadcast" in r["text"])


async def test_mention(platform):
    assert await platform.say("@chonai ヘルプ", "d-mention") in (200, 201)
    await until(platform, lambda r: "/draft" in r["text"])


async def test_button_press(platform):
    await platform.say("/draft メール文 会議の日程調整", "d-draft")
    reply = await until(platform, lambda r: any(b[0] == "draft.post" for b in r["buttons"]))
    value = next(v for a, v in reply["buttons"] if a == "draft.post")
    assert await platform.press(reply, "draft.post", value) in (200, 202)
    await until(platform, lambda r: "作成した下書き" in r["text"])


async def test_bad_signature(platform):
    assert await platform.forged() == 401
    assert platform.bot.runtime.store.head()[0] == 0


async def test_retried_delivery_is_answered_once(platform):
    for _ in range(3):
        assert await platform.say("/help", "d-retry") in (200, 201)
    await until(platform, lambda r: "/broadcast" in r["text"])
    await platform.bot.settle()
    assert len([r for r in await platform.replies() if "/broadcast" in r["text"]]) == 1


async def test_lineworks_token_429_and_location(start_bot, tmp_path):
    standin = await LineWorksStandIn().start()
    try:
        key = tmp_path / "lw.key"
        rsa_key(key)
        bot = await start_bot(extra={
            "lineworks_bot_id": LW_BOT, "lineworks_bot_secret": LW_SECRET,
            "lineworks_client_id": "client-1", "lineworks_client_secret": "cs",
            "lineworks_service_account": "bot@example", "lineworks_private_key": str(key),
            "lineworks_api_url": standin.url("/v1.0"), "lineworks_auth_url": standin.url("/oauth2/v2.0/token")})
        driver = LineWorks(bot, standin)
        standin.throttle = 1  # the first post gets 429 Retry-After
        assert await driver.callback({"type": "message", "source": {"userId": "u9"},
                                      "content": {"type": "location", "address": "東京都",
                                                  "latitude": 35.6812, "longitude": 139.7671}}) == 200
        reply = await until(driver, lambda r: "maps.gsi.go.jp" in r["text"], timeout=30)
        assert "35.6812/139.7671" in reply["text"]
        assert standin.messages[0]["user"] == "u9" and len(standin.messages) == 1
        assert standin.tokens == 1  # one token, reused
    finally:
        await standin.server.close()
