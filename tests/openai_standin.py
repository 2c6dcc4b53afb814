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
        app.router.add_post("/v1/embeddings", self.embeddings)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server:
            await self.server.close()

    # Concepts the stand-in "understands": texts sharing a concept get similar vectors.
    CONCEPTS = [("引っ越", "転入", "転居", "移り住", "住所変更"), ("ごみ", "ゴミ", "廃棄", "捨て"),
                ("住民票", "証明書", "写し")]

    def vector(self, text: str) -> list[float]:
        values = [1.0 if any(word in text for word in words) else 0.0 for words in self.CONCEPTS]
        return values + [0.05]

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        self.requests.append(body)
        return web.json_response({"object": "list", "model": body["model"],
                                  "usage": {"prompt_tokens": 1, "total_tokens": 1},
                                  "data": [{"object": "embedding", "index": i,
                                            "embedding": self.vector(t)} for i, t in enumerate(texts)]})

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
