"""A local server speaking OpenAI's chat-completions wire format (streaming too), recording
every request; it can answer slowly or fail on demand."""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web
from aiohttp.test_utils import TestServer


class OpenAIStandIn:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.reply = "下書きです。"
        self.mode = "ok"  # "ok", "hang", "error"
        self.server: TestServer | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/v1"))

    def prompts(self) -> str:
        return "\n".join(m["content"] for r in self.requests for m in r["messages"])

    async def start(self) -> "OpenAIStandIn":
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.completions)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server:
            await self.server.close()

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if self.mode == "hang":
            await asyncio.sleep(30)
        if self.mode == "error":
            return web.json_response({"error": {"message": "boom", "type": "server_error"}},
                                     status=500)
        usage = {"prompt_tokens": 42, "completion_tokens": 17, "total_tokens": 59}
        if body.get("stream"):
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for piece in (self.reply[: len(self.reply) // 2], self.reply[len(self.reply) // 2:]):
                chunk = {"id": "c1", "object": "chat.completion.chunk", "created": int(time.time()),
                         "model": body["model"], "choices": [
                             {"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
            return response
        return web.json_response({
            "id": "c1", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"], "usage": usage,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": self.reply}}]})
