"""A local stand-in for Slack: the Web API's wire format (form, query or JSON bodies,
`{"ok": ...}` answers, `Retry-After` on 429), response_url hooks, file uploads and a Socket
Mode WebSocket. It records every call, so tests see what the bot sent as Slack would.

Also here: `signed_headers`, which signs a request body the way Slack does (v0 HMAC).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from slack_sdk.signature import SignatureVerifier

BOT_USER = "U0BOT"
BOT_ID = "B0BOT"
BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"


def signed_headers(secret: str, body: str | bytes, *, timestamp: int | None = None,
                   content_type: str = "application/x-www-form-urlencoded",
                   signature: str | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    if isinstance(body, bytes):  # any bytes, even ones that are not UTF-8
        digest = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
        computed = "v0=" + digest.hexdigest()
    else:
        computed = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature or computed}


@dataclass
class Fault:
    status: int = 429
    error: str = "ratelimited"
    retry_after: float | None = 1
    drop_answer: bool = False  # carry the call out, then cut the connection: the answer is lost


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None
    answered: dict[str, Any] = field(default_factory=dict)


class SlackStandIn:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.channels: dict[str, list[dict[str, Any]]] = {}
        self.ephemeral: list[dict[str, Any]] = []
        self.hook_posts: list[dict[str, Any]] = []
        self.uploads: dict[str, bytes] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.not_member: set[str] = set()
        self.users: list[dict[str, Any]] = []
        self.acks: dict[str, dict[str, Any]] = {}
        self.sockets: list[web.WebSocketResponse] = []
        self.connections = 0
        self._ack_event = asyncio.Event()
        self._ts = itertools.count(1)
        self._server: TestServer | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/hooks/{hook}", self._hook)
        app.router.add_post("/upload/{file}", self._upload)
        app.router.add_get("/socket", self._socket)
        app.router.add_get("/_stats", self._stats)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self.url

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self._server is not None:
            await self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def hook_url(self) -> str:
        return f"{self.url}/hooks/{uuid.uuid4().hex}"

    # -- what tests look at --------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        found = [m for ch, messages in self.channels.items() for m in messages
                 if channel in (None, ch)]
        return sorted(found, key=lambda m: m["ts"])

    def fail(self, method: str, fault: Fault | None = None, times: int = 1) -> None:
        self.faults.setdefault(method, []).extend([fault or Fault()] * times)

    async def _stats(self, request: web.Request) -> web.Response:
        counts: dict[str, int] = {}
        for call in self.calls:
            counts[call.method] = counts.get(call.method, 0) + 1
        return web.json_response({"calls": counts, "posts": len(self.posts()),
                                  "hook_posts": len(self.hook_posts)})

    # -- Web API -------------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        raw = await request.read()
        if not raw:
            return params
        if request.content_type == "application/json":
            params.update(json.loads(raw))
        else:
            params.update(dict(parse_qsl(raw.decode(), keep_blank_values=True)))
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else params.get("token")
        call = Call(method, params, token)
        self.calls.append(call)
        faults = self.faults.get(method)
        fault = faults.pop(0) if faults else None
        if fault and not fault.drop_answer:
            headers = ({"Retry-After": str(fault.retry_after)}
                       if fault.retry_after is not None else {})
            return web.json_response({"ok": False, "error": fault.error}, status=fault.status,
                                     headers=headers)
        expected = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if token != expected:
            answer = {"ok": False, "error": "invalid_auth"}
        else:
            handler = getattr(self, "_m_" + method.replace(".", "_"), None)
            answer = handler(params) if handler else {"ok": False, "error": "unknown_method"}
        call.answered = answer
        if fault and fault.drop_answer:
            request.transport.close()  # the work is done; the answer never arrives
        return web.json_response(answer)

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _channel_for(self, channel: str) -> str:
        return "D" + channel[1:] if channel[:1] in ("U", "W") else channel

    @staticmethod
    def _json(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value

    def _m_auth_test(self, params: dict) -> dict:
        return {"ok": True, "user_id": BOT_USER, "bot_id": BOT_ID, "team_id": "T0TEAM",
                "user": "chonai"}

    def _m_chat_postMessage(self, params: dict) -> dict:
        channel = self._channel_for(params.get("channel", ""))
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        message = {"type": "message", "ts": self._next_ts(), "user": BOT_USER, "bot_id": BOT_ID,
                   "text": params.get("text", ""), "blocks": self._json(params.get("blocks")),
                   "channel": channel}
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        if params.get("metadata"):
            message["metadata"] = self._json(params["metadata"])
        self.channels.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def _m_chat_postEphemeral(self, params: dict) -> dict:
        channel = self._channel_for(params.get("channel", ""))
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        message = {"channel": channel, "user": params.get("user"), "text": params.get("text"),
                   "blocks": self._json(params.get("blocks")), "message_ts": self._next_ts()}
        self.ephemeral.append(message)
        return {"ok": True, "message_ts": message["message_ts"]}

    def _m_chat_update(self, params: dict) -> dict:
        for message in self.channels.get(params.get("channel", ""), []):
            if message["ts"] == params.get("ts"):
                message["text"] = params.get("text", "")
                message["blocks"] = self._json(params.get("blocks"))
                message["edited"] = True
                return {"ok": True, "channel": params["channel"], "ts": message["ts"],
                        "text": message["text"]}
        return {"ok": False, "error": "message_not_found"}

    def _page(self, items: list, params: dict) -> tuple[list, dict]:
        start = int(params.get("cursor") or 0)
        limit = int(params.get("limit") or 100)
        chunk = items[start:start + limit]
        more = start + limit < len(items)
        return chunk, {"next_cursor": str(start + limit) if more else ""}

    def _visible(self, message: dict, params: dict) -> dict:
        shown = {k: v for k, v in message.items() if k != "channel"}
        if str(params.get("include_all_metadata", "")).lower() not in ("1", "true"):
            shown.pop("metadata", None)
        return shown

    def _m_conversations_history(self, params: dict) -> dict:
        channel = params.get("channel", "")
        if channel not in self.channels:
            return {"ok": False, "error": "channel_not_found"}
        top = [m for m in reversed(self.channels[channel])
               if m.get("thread_ts") in (None, m["ts"])]
        chunk, meta = self._page(top, params)
        return {"ok": True, "messages": [self._visible(m, params) for m in chunk],
                "has_more": bool(meta["next_cursor"]), "response_metadata": meta}

    def _m_conversations_replies(self, params: dict) -> dict:
        channel, ts = params.get("channel", ""), params.get("ts")
        thread = [m for m in self.channels.get(channel, [])
                  if m["ts"] == ts or m.get("thread_ts") == ts]
        chunk, meta = self._page(thread, params)
        return {"ok": True, "messages": [self._visible(m, params) for m in chunk],
                "response_metadata": meta}

    def _m_conversations_open(self, params: dict) -> dict:
        user = str(params.get("users", "")).split(",")[0]
        return {"ok": True, "channel": {"id": self._channel_for(user)}}

    def _m_users_list(self, params: dict) -> dict:
        chunk, meta = self._page(self.users, params)
        return {"ok": True, "members": chunk, "response_metadata": meta}

    def _m_files_getUploadURLExternal(self, params: dict) -> dict:
        file_id = "F" + uuid.uuid4().hex[:10].upper()
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, params: dict) -> dict:
        files = self._json(params.get("files")) or []
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    def _m_apps_connections_open(self, params: dict) -> dict:
        return {"ok": True, "url": self.url.replace("http://", "ws://") + "/socket"}

    # -- response_url and uploads ------------------------------------------------------------
    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.hook_posts.append({"hook": request.match_info["hook"], **body})
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        self.uploads[request.match_info["file"]] = data
        return web.Response(text=f"OK - {len(data)}")

    # -- Socket Mode ---------------------------------------------------------------------------
    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        self.connections += 1
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "connection_info": {"app_id": "A0APP"}})
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    data = json.loads(message.data)
                    if "envelope_id" in data:
                        self.acks[data["envelope_id"]] = data
                        self._ack_event.set()
        finally:
            self.sockets.remove(ws)
        return ws

    async def wait_connected(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not self.sockets:
            if time.monotonic() > deadline:
                raise AssertionError("the bot did not connect over Socket Mode")
            await asyncio.sleep(0.02)

    async def drop_sockets(self) -> None:
        for ws in list(self.sockets):
            await ws.close()

    async def send_envelope(self, kind: str, payload: dict[str, Any],
                            retry_attempt: int | None = None) -> str:
        envelope_id = uuid.uuid4().hex
        envelope: dict[str, Any] = {"type": kind, "envelope_id": envelope_id, "payload": payload,
                                    "accepts_response_payload": kind != "events_api"}
        if retry_attempt is not None:
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = "timeout"
        await self.sockets[-1].send_json(envelope)
        return envelope_id

    async def wait_ack(self, envelope_id: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while envelope_id not in self.acks:
            if time.monotonic() > deadline:
                raise AssertionError("no ack over Socket Mode")
            self._ack_event.clear()
            try:
                await asyncio.wait_for(self._ack_event.wait(), 0.1)
            except TimeoutError:
                pass
        return self.acks[envelope_id]
