"""The local talk room: the embedded platform (a small LoGo-chat-like page and its JSON API)
and its adapter. Direct messages are rooms named `dm:{user}`."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import unicodedata
from importlib import resources
from typing import Any

from aiohttp import web

from bot import signin
from bot.inbound import MAX_FIELD, count, json_object, refuse_bad_input
from bot.runtime import Runtime
from handlers.messages import MAX_TEXT, BadInput, Incoming, Outbound
from handlers.router import parse_text
from store import rooms

log = logging.getLogger(__name__)

PLATFORM = "local"
BOT_USER = "chonai"
BOT_NAMES = frozenset({BOT_USER, "庁内ボット", "@chonai", "bot", "system", "chonai-bot",
                       "チョウナイ", "ちょうない", "ちょうないぼっと", "チョウナイボット", "@庁内ボット"})
_NAME = re.compile(r"^[^\x00-\x1f\x7f\ud800-\udfff]{1,200}$")
_CONFUSABLE = str.maketrans({"ı": "i", "ɪ": "i", "ο": "o", "о": "o", "а": "a", "с": "c",
                             "һ": "h", "ո": "n", "ｰ": "ー"})


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def read_json(request: web.Request, fields: tuple[str, ...]) -> dict[str, Any]:
    """The request's JSON object with the named string fields, or a 4xx with a clear message."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        count(request, "too_large")
        raise web.HTTPRequestEntityTooLarge(
            max_size=request.client_max_size, actual_size=request.content_length or 0,
            text='{"error": "送信データが大きすぎます（1MB まで）。"}',
            content_type="application/json") from None
    try:
        body = json_object(raw)
    except BadInput as exc:
        raise _http_error(request, exc) from None
    missing = [f for f in fields if not isinstance(body.get(f), str) or not body[f].strip()]
    if missing:
        count(request, "poison_input")
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "必要な項目がありません: " + ", ".join(missing)},
                            ensure_ascii=False), content_type="application/json")
    return body


def _http_error(request: web.Request, exc: BadInput) -> web.HTTPException:
    response = refuse_bad_input(request, exc)
    error_class = web.HTTPRequestEntityTooLarge if response.status == 413 else web.HTTPBadRequest
    if error_class is web.HTTPRequestEntityTooLarge:
        return error_class(max_size=MAX_FIELD, actual_size=0, text=response.text,
                           content_type="application/json")
    return error_class(text=response.text, content_type="application/json")


def valid_name(value: str) -> bool:
    """A user or room name: no control, format (zero-width, bidi) or surrogate characters."""
    return bool(_NAME.match(value)) and not any(unicodedata.category(ch) == "Cf" for ch in value)


def looks_like_bot(name: str) -> bool:
    """The bot's own names in any width, case or lookalike letters."""
    folded = unicodedata.normalize("NFKC", name).translate(_CONFUSABLE).casefold().strip()
    return folded in BOT_NAMES or folded.lstrip("@") in BOT_NAMES


def _json_error(error_class: type[web.HTTPException], message: str) -> web.HTTPException:
    return error_class(text=json.dumps({"error": message}, ensure_ascii=False),
                       content_type="application/json")


class LocalRoom:
    """Adapter for the embedded talk room; its storage lives in store/rooms.py."""

    platform = PLATFORM

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self._changed = asyncio.Event()  # replaced after each change; open pages wait on it
        self._closing = asyncio.Event()
        self._streams = 0

    def _notify(self) -> None:
        """Something in the talk room changed in this process: wake every open page."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def speaker(self, request: web.Request, claimed: str | None) -> str | None:
        """Who is asking. On loopback the page's chosen user is taken (but never the bot's own
        name); beyond it the session token decides, and acting as someone else is refused."""
        if not signin.required(self.runtime.settings):
            if claimed is None:
                return None
            user = claimed.strip()
            if not valid_name(user) or looks_like_bot(user):
                count(request, "identity")
                raise _json_error(web.HTTPForbidden, "その利用者名では操作できません。")
            return user
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else request.cookies.get(signin.COOKIE)
        claims = signin.session_claims(self.runtime.settings, token)
        if claims is not None and not await self._still_allowed(claims):
            claims = None
        if claims is None:
            count(request, "signin")
            raise _json_error(web.HTTPUnauthorized,
                              "サインインしてください（管理者が chonai staff token で発行するリンクを開きます）。")
        user = claims["u"]
        if claimed is not None and claimed.strip() not in ("", user):
            count(request, "identity")
            raise _json_error(web.HTTPForbidden, "ほかの利用者としては操作できません。")
        return user

    async def _still_allowed(self, claims: dict) -> bool:
        """Not revoked since it was issued, and still in the staff directory."""
        from store.staff import person_by_user_id

        history = await asyncio.to_thread(self.runtime.store.stream,
                                          signin.revocation_stream(claims["u"]))
        if signin.revoked(history, claims["iat"]):
            return False
        return await asyncio.to_thread(person_by_user_id, self.engine, claims["u"]) is not None

    @staticmethod
    def own_room(room: str, user: str | None) -> bool:
        """A dm: room is its owner's alone (the bot writes there through the outbox)."""
        return not room.startswith("dm:") or room[3:] == user

    def routes(self, app: web.Application) -> None:
        from bot.browser import guarded

        settings = self.runtime.settings
        app.router.add_get("/", guarded(settings, self.page))
        app.router.add_get("/api/rooms", guarded(settings, self.list_rooms))
        app.router.add_get("/api/rooms/{room}/messages", guarded(settings, self.list_messages))
        app.router.add_post("/api/rooms/{room}/messages", guarded(settings, self.post_message))
        app.router.add_post("/api/rooms/{room}/actions", guarded(settings, self.post_action))
        app.router.add_post("/api/rooms/{room}/read", guarded(settings, self.post_read))
        app.router.add_get("/api/me", guarded(settings, self.me))
        app.router.add_get("/api/events", guarded(settings, self.live))

        async def watching(app: web.Application):
            task = asyncio.create_task(self._watch_other_instances(), name="talk-room-watch")
            yield
            task.cancel()

        async def closing(app: web.Application) -> None:  # open live pages end at shutdown
            self._closing.set()
            self._notify()

        app.cleanup_ctx.append(watching)
        app.on_shutdown.append(closing)
        app.router.add_get("/signin", guarded(settings, self.sign_in_page))
        app.router.add_post("/signin", guarded(settings, self.sign_in))
        app.router.add_get("/api/blobs/{name}", guarded(settings, self.blob))

    # -- HTTP ------------------------------------------------------------------------------
    async def page(self, request: web.Request) -> web.Response:
        html = resources.files("bot").joinpath("static/index.html").read_text("utf-8")
        return web.Response(text=html, content_type="text/html")

    async def me(self, request: web.Request) -> web.Response:
        """Who the page acts as: the signed-in person beyond loopback; on loopback, chosen."""
        if not signin.required(self.runtime.settings):
            return web.json_response({"signin": False, "user": None})
        return web.json_response({"signin": True, "user": await self.speaker(request, None)})

    async def sign_in_page(self, request: web.Request) -> web.Response:
        """The one-time link opens a page with one button: the code is exchanged only by a
        POST from this page (a link placed on another site cannot sign someone in)."""
        code = request.query.get("code", "")
        if signin.open_code(self.runtime.settings, code) is None:
            return self._sign_in_refused(request)
        from html import escape

        return web.Response(content_type="text/html", charset="utf-8", headers={
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}, text=(
            "<!doctype html><html lang=ja><meta charset=utf-8><meta name=viewport "
            "content='width=device-width, initial-scale=1'><title>庁内トークにサインイン</title>"
            "<h1>庁内トークにサインイン</h1><form method=post action=/signin>"
            f"<input type=hidden name=code value='{escape(code, quote=True)}'>"
            "<button type=submit>サインインする</button></form>"))

    def _sign_in_refused(self, request: web.Request) -> web.Response:
        count(request, "signin")
        return web.Response(status=401, content_type="text/html", charset="utf-8",
                            text="<!doctype html><meta charset=utf-8><p>このサインイン用リンクは使えません"
                                 "（期限切れか、使用済みです）。管理者に新しいリンクを依頼してください。</p>")

    async def sign_in(self, request: web.Request) -> web.Response:
        """Exchange a one-time link's code for the session cookie, then leave the URL."""
        settings = self.runtime.settings
        form = await request.post() if request.content_type == "application/x-www-form-urlencoded" else {}
        code = form.get("code") if isinstance(form.get("code"), str) else None
        claims = signin.open_code(settings, code)
        if claims is not None and not await self._still_allowed(claims):
            claims = None  # revoked after the link was issued, or no longer in the directory
        if claims is not None:
            from store.events import NewEvent

            nonce = secrets.token_hex(8)
            [used] = await self.runtime.store.append(NewEvent(
                "signin.code_used", signin.revocation_stream(claims["u"]),
                {"user": claims["u"], "nonce": nonce}, actor=claims["u"], platform=PLATFORM,
                idempotency_key=f"signin:code:{claims['jti']}"))
            if used.payload.get("nonce") != nonce:
                claims = None  # a link works once
        if claims is None:
            return self._sign_in_refused(request)
        response = web.Response(status=303, headers={"Location": "/"})
        # Secure over https: directly, or behind a TLS proxy that CHONAI_HTTPS=1 declares.
        secure = request.secure or settings.get("chonai_https", "").lower() in ("1", "true", "yes")
        response.set_cookie(signin.COOKIE, signin.issue(settings, claims["u"]), httponly=True,
                            samesite="Strict", secure=secure, path="/",
                            max_age=int(signin.session_days(settings) * 86400))
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    async def live(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: "change" as soon as a message, an edit or a read mark lands, so
        an open page refreshes within milliseconds instead of polling. Changes made by another
        instance are noticed by a light check every two seconds."""
        await self.speaker(request, request.query.get("user") or None)
        from bot.browser import HEADERS

        response = web.StreamResponse(headers={**HEADERS, "Content-Type": "text/event-stream",
                                               "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        await response.prepare(request)
        try:
            await self._stream_changes(request, response)
        except (ConnectionResetError, ConnectionError):
            pass  # the page went away: nothing to report
        return response

    async def _stream_changes(self, request: web.Request, response: web.StreamResponse) -> None:
        self._streams += 1
        try:
            await response.write(b"event: change\ndata: {}\n\n")
            while not self._closing.is_set():
                waiting = self._changed
                try:
                    await asyncio.wait_for(waiting.wait(), 20.0)
                    await response.write(b"event: change\ndata: {}\n\n")
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")  # proxies close silent streams
                if request.transport is None or request.transport.is_closing():
                    break  # the page went away
        finally:
            self._streams -= 1

    async def _watch_other_instances(self) -> None:
        """One light check every two seconds, shared by every open page, for changes another
        instance made (this instance's own changes wake the pages at once)."""
        last = None
        while not self._closing.is_set():
            try:  # kept current even with no page open, so the first page misses nothing
                marker = await asyncio.to_thread(rooms.change_marker, self.engine)
            except Exception as exc:  # the database away: the pages simply wait
                log.warning("talk room change check failed: %s", type(exc).__name__)
                marker = last
            if last is not None and marker != last and self._streams:
                self._notify()
            last = marker
            await asyncio.sleep(2.0)

    async def blob(self, request: web.Request) -> web.Response:
        """A chart image for the page: for signed-in staff beyond loopback."""
        from store.blobs import get_blob

        await self.speaker(request, None)
        found = await asyncio.to_thread(get_blob, self.engine, request.match_info["name"])
        if found is None:
            return web.json_response({"error": "見つかりません。"}, status=404)
        return web.Response(body=found[1], content_type=found[0],
                            headers={"Cache-Control": "private, max-age=86400"})

    async def list_rooms(self, request: web.Request) -> web.Response:
        user = await self.speaker(request, request.query.get("user"))
        found = await asyncio.to_thread(rooms.rooms, self.engine, user)
        return web.json_response({"rooms": found})

    async def list_messages(self, request: web.Request) -> web.Response:
        room = request.match_info["room"]
        user = await self.speaker(request, request.query.get("user") or None)
        if not self.own_room(room, user):
            count(request, "identity")
            return error(403, "ほかの人のダイレクトメッセージは表示できません。")
        messages = await asyncio.to_thread(rooms.list_messages, self.engine, room, user=user)
        return web.json_response({"room": room, "messages": messages})

    async def post_message(self, request: web.Request) -> web.Response:
        room = request.match_info["room"]
        body = await read_json(request, ("user", "text"))
        user, text = await self.speaker(request, body["user"]), body["text"]
        if not valid_name(room) or (room[:3].lower() == "dm:" and not room.startswith("dm:")):
            return error(400, "ルーム名が正しくありません。")
        if not self.own_room(room, user):
            count(request, "identity")
            return error(403, "ほかの人のダイレクトメッセージには書き込めません。")
        if len(text) > MAX_TEXT:
            return error(413, f"メッセージが長すぎます（{MAX_TEXT:,}文字まで）。分けて送ってください。")
        message_id = rooms.new_id()
        kind, name, rest = parse_text(text)
        if kind == "message":
            stored = await asyncio.to_thread(rooms.add_message, self.engine, room, user, text,
                                             message_id=message_id)
            self._notify()
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
        self._notify()
        return web.json_response({"message": stored, "event": recorded.position}, status=201)

    async def post_action(self, request: web.Request) -> web.Response:
        room = request.match_info["room"]
        body = await read_json(request, ("user", "message_id", "action_id"))
        user = await self.speaker(request, body["user"])
        message = await asyncio.to_thread(rooms.get_message, self.engine, body["message_id"])
        if message is None or message["room"] != room:
            return error(404, "そのメッセージは見つかりません。")
        if message["private_to"] not in (None, user) or not self.own_room(room, user):
            count(request, "identity")
            return error(403, "このボタンは操作できません。")
        value = body.get("value", "")
        if not isinstance(value, str):
            return error(400, "value は文字列で送ってください。")
        button = next((b for b in message["buttons"] if b.get("action_id") == body["action_id"]
                       and (not value or b.get("value") == value)), None)
        if button is None:
            return error(400, "そのボタンはこのメッセージにありません。")
        client_id = body.get("client_id") if isinstance(body.get("client_id"), str) else None
        incoming = Incoming(platform=PLATFORM, kind="action", user=user,
                            room=room, delivery_id=client_id or rooms.new_id(),
                            action_id=body["action_id"], value=value or button.get("value", ""),
                            message_id=message["id"], thread=message.get("thread"),
                            reply={"ref": message.get("ref")} if message.get("ref") else {})
        recorded = await self.runtime.accept(incoming)
        return web.json_response({"event": recorded.position}, status=202)

    async def post_read(self, request: web.Request) -> web.Response:
        room = request.match_info["room"]
        body = await read_json(request, ("user", "message_id"))
        user = await self.speaker(request, body["user"])
        message = await asyncio.to_thread(rooms.get_message, self.engine, body["message_id"])
        if message is None or message["room"] != room:
            return error(404, "そのメッセージは見つかりません。")
        if not self.own_room(room, user):
            count(request, "identity")
            return error(403, "ほかの人のダイレクトメッセージは既読にできません。")
        first = await asyncio.to_thread(rooms.mark_read, self.engine, message["id"], user)
        if first:
            self._notify()
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
            self._notify()
            return {"message_id": previous["message_id"], "updated": True}
        stored = await asyncio.to_thread(
            rooms.add_message, self.engine, out.room, BOT_USER, out.text, buttons=buttons,
            private_to=out.private_to, thread=out.thread, image=out.image, outbox_id=job_id,
            ref=out.ref)
        self._notify()
        return {"message_id": stored["id"]}

    async def lookup(self, job_id: int, out: Outbound) -> dict[str, Any] | None:
        found = await asyncio.to_thread(rooms.by_outbox, self.engine, job_id)
        return {"message_id": found["id"]} if found else None
