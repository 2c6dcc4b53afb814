"""The generic signed webhook adapter, for relays such as a LoGo chat bridge.

In: `POST /webhook/inbound` with `{"platform", "room", "user", "text"}` (plus optional `"id"`,
`"action": {"id", "value", "message_id"}`, `"location": {"lat", "lon"}`), signed as in
bot/signing.py with CHONAI_WEBHOOK_SECRET. Out: each reply is POSTed, signed the same way, to
CHONAI_WEBHOOK_OUTBOUND_URL through the outbox, with `X-Chonai-Delivery` carrying the outbox
id so the relay can drop a repeat. The format is documented in docs/webhook.md.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aiohttp import web

from bot import signing
from bot.adapters import DeliveryError, RetryAfter, mount
from bot.inbound import json_object, refuse, refuse_bad_input
from bot.runtime import Runtime
from handlers.messages import MAX_TEXT, BadInput, Incoming, Outbound
from handlers.router import parse_text

PLATFORM = "webhook"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def to_incoming(data: dict[str, Any]) -> Incoming | None:
    """The neutral shape of one relayed message, or None when it is not for the bot."""
    for name in ("platform", "room", "user"):
        if not isinstance(data.get(name), str) or not data[name].strip() or len(data[name]) > 200:
            raise BadInput(f"{name} は空でない文字列で送ってください。")
    # The relay's message id is what makes a retried delivery a no-op: it is required (a
    # digest of the body would also drop the same question asked twice).
    delivery = data.get("id")
    if not isinstance(delivery, str) or not delivery.strip() or len(delivery) > 200:
        raise BadInput("id（中継側のメッセージ ID、再送でも同じ値）を文字列で送ってください。")
    common = {"platform": PLATFORM, "user": data["user"], "room": data["room"],
              "delivery_id": f"{data['platform']}:{delivery}",
              "reply": {"relay_platform": data["platform"]}}
    if isinstance(data.get("action"), dict):
        action = data["action"]
        if not isinstance(action.get("id"), str) or not isinstance(action.get("value", ""), str):
            raise BadInput("action は {\"id\": 文字列, \"value\": 文字列} で送ってください。")
        return Incoming(kind="action", action_id=action["id"], value=action.get("value", ""),
                        message_id=_optional_str(action.get("message_id")), **common)
    if isinstance(data.get("location"), dict):
        lat, lon = data["location"].get("lat"), data["location"].get("lon")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lat, lon)):
            raise BadInput("location は {\"lat\": 数値, \"lon\": 数値} で送ってください。")
        return Incoming(kind="command", command="here", text=f"{lat},{lon}", **common)
    text = data.get("text")
    if not isinstance(text, str):
        raise BadInput("text は文字列で送ってください。")
    if len(text) > MAX_TEXT:
        raise BadInput(f"text が長すぎます（{MAX_TEXT:,}文字まで）。")
    kind, name, rest = parse_text(text)
    if kind == "message":
        return None
    return Incoming(kind=kind, command=name, text=rest, **common)


def _optional_str(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadInput("message_id は文字列で送ってください。")
    return value


class WebhookRelay:
    platform = PLATFORM

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.secret = runtime.settings.webhook_secret
        self.outbound_url = runtime.settings.webhook_outbound_url
        self._session: aiohttp.ClientSession | None = None

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not signing.verify(self.secret, request.headers, body):
            return refuse(request, 401, "signature", "署名が正しくないか、時刻がずれています。")
        try:
            incoming = to_incoming(json_object(body))
        except BadInput as exc:
            return refuse_bad_input(request, exc)
        if incoming is None:
            return web.json_response({"accepted": False, "reason": "not addressed to the bot"})
        recorded = await self.runtime.accept(incoming)
        return web.json_response({"accepted": True, "event": recorded.position})

    async def deliver(self, job_id: int, out: Outbound,
                      previous: dict[str, Any] | None) -> dict[str, Any]:
        if not self.outbound_url:
            raise DeliveryError("CHONAI_WEBHOOK_OUTBOUND_URL is not set", permanent=True)
        message = {"outbox_id": job_id, "platform": (out.reply or {}).get("relay_platform"),
                   "room": out.room, "text": out.text, "private_to": out.private_to,
                   "thread": out.thread, "ref": out.ref,
                   "update": previous.get("message_id") if out.update and previous else None,
                   "buttons": [{"id": b.action_id, "label": b.label, "value": b.value}
                               for b in out.buttons]}
        body = json.dumps(message, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "X-Chonai-Delivery": str(job_id),
                   **signing.headers(self.secret, body)}
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        try:
            async with self._session.post(self.outbound_url, data=body, headers=headers) as resp:
                if resp.status == 429:
                    raise RetryAfter(float(resp.headers.get("Retry-After", "5") or 5))
                if resp.status >= 500:
                    raise DeliveryError(f"relay answered {resp.status}")
                if resp.status >= 400:
                    raise DeliveryError(f"relay refused {resp.status}", permanent=True)
                try:
                    answer = await resp.json(content_type=None)
                except ValueError:
                    answer = {}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"relay unreachable: {type(exc).__name__}") from None
        return {"message_id": str((answer or {}).get("message_id") or job_id)}

    async def lookup(self, job_id: int, out: Outbound) -> dict[str, Any] | None:
        # The relay dedupes by X-Chonai-Delivery; a resend after a crash is harmless.
        return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def attach(app: web.Application, runtime: Runtime) -> None:
    if not runtime.settings.webhook_secret:
        return
    relay = WebhookRelay(runtime)
    mount(app, runtime, relay, "/webhook/inbound", relay.receive)
