"""LINE WORKS Bot API 2.0: the callback (`POST /lineworks/callback`) and the message API.

Callbacks are verified (X-WORKS-Signature: base64 HMAC-SHA256 of the body with the Bot Secret,
X-WORKS-BotId) and recorded before the 200. Replies go through the outbox with an access token
obtained by a service-account JWT (RS256) and renewed before it expires; a 429 waits only for
its own room. Buttons are button templates whose actions post back our action id and value.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.adapters import DeliveryError, RetryAfter, mount
from bot.inbound import json_object, refuse, refuse_bad_input, same_signature
from bot.runtime import Runtime
from handlers.messages import MAX_TEXT, BadInput, Incoming, Outbound
from handlers.router import parse_text

PLATFORM = "lineworks"
DEFAULT_API = "https://www.worksapis.com/v1.0"
DEFAULT_AUTH = "https://auth.worksmobile.com/oauth2/v2.0/token"
_SEP = "\x1f"  # between action id and value inside a postback


def signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def to_incoming(data: dict[str, Any], body: bytes) -> Incoming | None:
    source = data.get("source") if isinstance(data.get("source"), dict) else None
    if not source or not isinstance(source.get("userId"), str):
        raise BadInput("source.userId がありません。")
    user = source["userId"]
    channel = source.get("channelId") if isinstance(source.get("channelId"), str) else None
    room = channel or f"dm:{user}"
    delivery = hashlib.sha256(body).hexdigest()[:32]  # a retried callback repeats its body
    common = {"platform": PLATFORM, "user": user, "room": room, "delivery_id": delivery,
              "reply": {"channel": channel} if channel else {}}
    content = data.get("content") if isinstance(data.get("content"), dict) else {}
    postback = data.get("data") if data.get("type") == "postback" else content.get("postback")
    if isinstance(postback, str) and _SEP in postback:
        action_id, _, value = postback.partition(_SEP)
        return Incoming(kind="action", action_id=action_id, value=value, **common)
    if data.get("type") != "message":
        return None
    if content.get("type") == "location":
        lat, lon = content.get("latitude"), content.get("longitude")
        if not all(isinstance(v, (int, float)) for v in (lat, lon)):
            raise BadInput("位置情報の形式が正しくありません。")
        return Incoming(kind="command", command="here", text=f"{lat},{lon}", **common)
    text = content.get("text")
    if content.get("type") != "text" or not isinstance(text, str):
        return None
    if len(text) > MAX_TEXT:
        raise BadInput("メッセージが長すぎます。")
    kind, name, rest = parse_text(text)
    if kind == "message":
        if channel:
            return None  # in a group, only commands and mentions are for the bot
        kind, name, rest = "mention", None, text  # a 1:1 talk with the bot is addressed to it
    return Incoming(kind=kind, command=name, text=rest, **common)


def content(out: Outbound) -> dict[str, Any]:
    if not out.buttons:
        return {"type": "text", "text": out.text[:2000]}
    return {"type": "button_template", "contentText": out.text[:1000],
            "actions": [{"type": "message", "label": b.label[:20],
                         "postback": f"{b.action_id}{_SEP}{b.value}"[:1000]}
                        for b in out.buttons[:10]]}


class LineWorks:
    platform = PLATFORM

    def __init__(self, runtime: Runtime) -> None:
        get = runtime.settings.get
        self.runtime = runtime
        self.bot_id = get("lineworks_bot_id")
        self.secret = get("lineworks_bot_secret")
        self.client_id = get("lineworks_client_id")
        self.client_secret = get("lineworks_client_secret")
        self.service_account = get("lineworks_service_account")
        self.key_path = get("lineworks_private_key")
        self.api = get("lineworks_api_url", DEFAULT_API).rstrip("/")
        self.auth = get("lineworks_auth_url", DEFAULT_AUTH)
        self._token: tuple[str, float] | None = None
        self._token_lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        return self._session

    async def callback(self, request: web.Request) -> web.Response:
        body = await request.read()
        given = request.headers.get("X-WORKS-Signature", "")
        if request.headers.get("X-WORKS-BotId") != self.bot_id or \
                not same_signature(signature(self.secret, body), given):
            return refuse(request, 401, "signature", "署名またはボット ID が正しくありません。")
        try:
            incoming = to_incoming(json_object(body), body)
        except BadInput as exc:
            return refuse_bad_input(request, exc)
        if incoming is not None:
            await self.runtime.accept(incoming)
        return web.json_response({"ok": True})

    async def token(self) -> str:
        """A bot access token from a service-account JWT, renewed a minute before expiry."""
        import jwt

        async with self._token_lock:
            if self._token and self._token[1] > time.time() + 60:
                return self._token[0]
            now = int(time.time())
            assertion = jwt.encode({"iss": self.client_id, "sub": self.service_account,
                                    "iat": now, "exp": now + 3600},
                                   Path(self.key_path).read_text(), algorithm="RS256")
            form = {"assertion": assertion, "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                    "client_id": self.client_id, "client_secret": self.client_secret, "scope": "bot"}
            async with self.session().post(self.auth, data=form) as resp:
                if resp.status != 200:
                    raise DeliveryError(f"token endpoint answered {resp.status}")
                found = await resp.json(content_type=None)
            self._token = (found["access_token"], time.time() + float(found.get("expires_in", 3600)))
            return self._token[0]

    async def deliver(self, job_id: int, out: Outbound,
                      previous: dict[str, Any] | None) -> dict[str, Any]:
        channel = (out.reply or {}).get("channel")
        if out.room.startswith("dm:") or (out.private_to and not channel):
            target = out.private_to or out.room[3:]
            url = f"{self.api}/bots/{self.bot_id}/users/{target}/messages"
        elif out.private_to:  # LINE WORKS has no ephemeral posts: a private answer is a 1:1 message
            url = f"{self.api}/bots/{self.bot_id}/users/{out.private_to}/messages"
        else:
            url = f"{self.api}/bots/{self.bot_id}/channels/{channel or out.room}/messages"
        try:
            headers = {"Authorization": f"Bearer {await self.token()}"}
            async with self.session().post(url, json={"content": content(out)},
                                           headers=headers) as resp:
                if resp.status == 429:
                    raise RetryAfter(float(resp.headers.get("Retry-After", "5") or 5))
                if resp.status == 401:
                    self._token = None
                    raise DeliveryError("access token refused")
                if resp.status >= 500:
                    raise DeliveryError(f"LINE WORKS answered {resp.status}")
                if resp.status >= 400:
                    raise DeliveryError(f"LINE WORKS refused {resp.status}", permanent=True)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"LINE WORKS unreachable: {type(exc).__name__}") from None
        return {"url": url}

    async def lookup(self, job_id: int, out: Outbound) -> dict[str, Any] | None:
        return None  # the message API offers no look-up; a crash mid-send may repeat one post

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def attach(app: web.Application, runtime: Runtime) -> None:
    settings = runtime.settings
    if not (settings.get("lineworks_bot_id") and settings.get("lineworks_bot_secret")):
        return
    adapter = LineWorks(runtime)
    mount(app, runtime, adapter, "/lineworks/callback", adapter.callback)
