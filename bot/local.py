"""The local talk room: the embedded platform (a small LoGo-chat-like page and its JSON API)
and its adapter. Direct messages are rooms named `dm:{user}`."""

from __future__ import annotations

import asyncio
import logging
import re
from importlib import resources
from typing import Any

from aiohttp import web

from bot.runtime import Runtime
from handlers.messages import MAX_TEXT, BadInput, Incoming, Outbound
from handlers.router import parse_text
from store import rooms

log = logging.getLogger(__name__)

PLATFORM = "local"
BOT_USER = "chonai"
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def read_json(request: web.Request, fields: tuple[str, ...]) -> dict[str, str]:
    """The request's JSON object with the named string fields, or a 4xx with a clear message."""
    try:
        body = await request.json()
    except web.HTTPRequestEntityTooLarge:
        raise web.HTTPRequestEntityTooLarge(
            max_size=request.client_max_size, actual_size=request.content_length or 0,
            text='{"error": "送信データが大きすぎます（1MB まで）。"}',
            content_type="application/json") from None
    except Exception:
        raise web.HTTPBadRequest(text='{"error": "JSON の形式が正しくありません。"}',
                                 content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "JSON オブジェクトを送ってください。"}',
                                 content_type="application/json")
    missing = [f for f in fields if not isinstance(body.get(f), str) or not body[f].strip()]
    if missing:
        raise web.HTTPBadRequest(
            text='{"error": "必要な項目がありません: ' + ", ".join(missing) + '"}',
            content_type="application/json")
    return body


def valid_name(value: str) -> bool:
    return bool(_NAME.match(value))


class LocalRoom:
    """Adapter for the embedded talk room; its storage lives in store/rooms.py."""

    platform = PLATFORM

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine

    def signed_in(self, request: web.Request, claimed: str | None) -> str | None:
        """Who is asking. On loopback the page's chosen user is trusted; beyond it the token
        decides, and acting as someone else is refused (403)."""
        from bot import signin

        if not signin.required(self.runtime.settings):
            return claimed
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else request.cookies.get("chonai_token")
        user = signin.user_of(self.runtime.settings, token)
        if user is None:
            raise web.HTTPUnauthorized(text='{"error": "サインインしてください（chonai staff token で発行したトークン）。"}',
                                       content_type="application/json")
        if claimed is not None and claimed.strip() != user:
            raise web.HTTPForbidden(text='{"error": "ほかの利用者としては操作できません。"}',
                                    content_type="application/json")
        return user

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.page)
        app.router.add_get("/api/rooms", self.list_rooms)
        app.router.add_get("/api/rooms/{room}/messages", self.list_messages)
        app.router.add_post("/api/rooms/{room}/messages", self.post_message)
        app.router.add_post("/api/rooms/{room}/actions", self.post_action)
        app.router.add_post("/api/rooms/{room}/read", self.post_read)

    # -- HTTP ------------------------------------------------------------------------------
    async def page(self, request: web.Request) -> web.Response:
        html = resources.files("bot").joinpath("static/index.html").read_text("utf-8")
        response = web.Response(text=html, content_type="text/html",
                            headers={"Content-Security-Policy": "default-src 'self'; "
                                     "style-src 'self' 'unsafe-inline'; script-src 'self' "
                                     "'unsafe-inline'; img-src 'self' data:"})
        if token := request.query.get("token"):  # a sign-in link: keep the token as a cookie
            response.set_cookie("chonai_token", token, httponly=True, samesite="Strict")
        return response

    async def list_rooms(self, request: web.Request) -> web.Response:
        user = self.signed_in(request, request.query.get("user"))
        found = await asyncio.to_thread(rooms.rooms, self.engine, user)
        return web.json_response({"rooms": found})

    async def list_messages(self, request: web.Request) -> web.Response:
        room = request.match_info["room"]
        user = self.signed_in(request, request.query.get("user") or None)
        if room.startswith("dm:") and user != room[3:]:
            return error(403, "ほかの人のダイレクトメッセージは表示できません。")
        messages = await asyncio.to_thread(rooms.list_messages, self.engine, room, user=user)
        return web.json_response({"room": room, "messages": messages})

    async def post_message(self, request: web.Request) -> web.Response:
        room = request.match_info["room"]
        body = await read_json(request, ("user", "text"))
        user, text = self.signed_in(request, body["user"]).strip(), body["text"]
        if not valid_name(room) or not valid_name(user):
            return error(400, "ルーム名または利用者名が正しくありません。")
        if len(text) > MAX_TEXT:
            return error(413, f"メッセージが長すぎます（{MAX_TEXT:,}文字まで）。分けて送ってください。")
        message_id = rooms.new_id()
        kind, name, rest = parse_text(text)
        if kind == "message":
            stored = await asyncio.to_thread(rooms.add_message, self.engine, room, user, text,
                                             message_id=message_id)
            return web.json_response({"message": stored}, status=201)
        client_id = body.get("client_id") if isinstance(body.get("client_id"), str) else None
        try:
            incoming = Incoming(platform=PLATFORM, kind=kind, user=user, room=room,
                                delivery_id=client_id or message_id, text=rest, command=name,
                                message_id=message_id)
        except BadInput:
            return error(400, "メッセージを受け付けられませんでした。")
        recorded = await self.runtime.accept(incoming)
        shown = recorded.payload.get("text", "")  # redacted when it was bound for an AI
        if recorded.payload.get("message_id") != message_id:
            # A retried delivery: the first one is already recorded and shown.
            return web.json_response({"event": recorded.position, "duplicate": True})
        prefix = f"/{name} " if kind == "command" else "@chonai "
        stored = await asyncio.to_thread(rooms.add_message, self.engine, room, user,
                                         (prefix + shown).strip(), message_id=message_id)
        return web.json_response({"message": stored, "event": recorded.position}, status=201)

    async def post_action(self, request: web.Request) -> web.Response:
        room = request.match_info["room"]
        body = await read_json(request, ("user", "message_id", "action_id"))
        self.signed_in(request, body["user"])
        message = await asyncio.to_thread(rooms.get_message, self.engine, body["message_id"])
        if message is None or message["room"] != room:
            return error(404, "そのメッセージは見つかりません。")
        if message["private_to"] not in (None, body["user"]):
            return error(403, "このボタンは操作できません。")
        value = body.get("value", "")
        if not isinstance(value, str):
            return error(400, "value は文字列で送ってください。")
        button = next((b for b in message["buttons"] if b.get("action_id") == body["action_id"]
                       and (not value or b.get("value") == value)), None)
        if button is None:
            return error(400, "そのボタンはこのメッセージにありません。")
        client_id = body.get("client_id") if isinstance(body.get("client_id"), str) else None
        incoming = Incoming(platform=PLATFORM, kind="action", user=body["user"].strip(),
                            room=room, delivery_id=client_id or rooms.new_id(),
                            action_id=body["action_id"], value=value or button.get("value", ""),
                            message_id=message["id"], thread=message.get("thread"),
                            reply={"ref": message.get("ref")} if message.get("ref") else {})
        recorded = await self.runtime.accept(incoming)
        return web.json_response({"event": recorded.position}, status=202)

    async def post_read(self, request: web.Request) -> web.Response:
        room = request.match_info["room"]
        body = await read_json(request, ("user", "message_id"))
        user = self.signed_in(request, body["user"]).strip()
        message = await asyncio.to_thread(rooms.get_message, self.engine, body["message_id"])
        if message is None or message["room"] != room:
            return error(404, "そのメッセージは見つかりません。")
        first = await asyncio.to_thread(rooms.mark_read, self.engine, message["id"], user)
        if first and message["user"] == BOT_USER and message.get("ref"):
            # Bot posts with a ref (broadcasts) count 既読 in the log, LoGo-style.
            await self.runtime.accept(Incoming(
                platform=PLATFORM, kind="read", user=user, room=room,
                delivery_id=f"read:{message['id']}:{user}", message_id=message["id"],
                reply={"ref": message["ref"]}))
        return web.json_response({"read": True, "first": first})

    # -- Adapter ---------------------------------------------------------------------------
    async def deliver(self, job_id: int, out: Outbound,
                      previous: dict[str, Any] | None) -> dict[str, Any]:
        buttons = [{"label": b.label, "action_id": b.action_id, "value": b.value,
                    "style": b.style} for b in out.buttons]
        if out.update and previous and previous.get("message_id"):
            await asyncio.to_thread(rooms.update_message, self.engine, previous["message_id"],
                                    out.text, buttons)
            return {"message_id": previous["message_id"], "updated": True}
        stored = await asyncio.to_thread(
            rooms.add_message, self.engine, out.room, BOT_USER, out.text, buttons=buttons,
            private_to=out.private_to, thread=out.thread, image=out.image, outbox_id=job_id,
            ref=out.ref)
        return {"message_id": stored["id"]}

    async def lookup(self, job_id: int, out: Outbound) -> dict[str, Any] | None:
        found = await asyncio.to_thread(rooms.by_outbox, self.engine, job_id)
        return {"message_id": found["id"]} if found else None
