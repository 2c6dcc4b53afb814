"""`GET /api/blobs/{name}`: chart images for the talk room page."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.runtime import Runtime
from store.blobs import get_blob


def attach(app: web.Application, runtime: Runtime) -> None:
    async def blob(request: web.Request) -> web.Response:
        found = await asyncio.to_thread(get_blob, runtime.engine, request.match_info["name"])
        if found is None:
            return web.json_response({"error": "見つかりません。"}, status=404)
        return web.Response(body=found[1], content_type=found[0],
                            headers={"Cache-Control": "private, max-age=86400"})

    from bot.browser import guarded

    app.router.add_get("/api/blobs/{name}", guarded(runtime.settings, blob))
