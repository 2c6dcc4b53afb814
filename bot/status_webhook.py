"""`POST /api/status`: signed status updates from e-application systems."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot import signing
from bot.inbound import refuse, refuse_bad_input, strict_json
from bot.runtime import Runtime
from handlers.messages import BadInput

FIELDS = ("receipt_no", "procedure", "status", "updated_at")
MAX_ITEMS = 1000


def attach(app: web.Application, runtime: Runtime) -> None:
    async def receive(request: web.Request) -> web.Response:
        secret = runtime.settings.status_secret
        if not secret:
            return web.json_response({"error": "CHONAI_STATUS_SECRET が設定されていません。"}, status=503)
        body = await request.read()
        if not signing.verify(secret, request.headers, body):
            return refuse(request, 401, "signature", "署名が正しくないか、時刻がずれています。")
        from commands.status import ImportError_, parse_statuses, status_events

        try:
            data = strict_json(body)
        except BadInput as exc:
            return refuse_bad_input(request, exc)
        items = data if isinstance(data, list) else [data]
        if not items or len(items) > MAX_ITEMS:
            return refuse(request, 422, "poison_input", f"1〜{MAX_ITEMS}件の状況を送ってください。")
        lines = []
        for item in items:
            # Strings only: null or a number is refused, never turned into "None" or "12".
            if not isinstance(item, dict) or set(item) - set(FIELDS) or \
                    not all(isinstance(item.get(k, ""), str) for k in FIELDS):
                return refuse(request, 422, "poison_input",
                              "receipt_no, procedure, status, updated_at を文字列で送ってください。")
            lines.append(",".join(_csv(item.get(k, "")) for k in FIELDS))
        try:
            rows = parse_statuses((",".join(FIELDS) + "\n" + "\n".join(lines)).encode())
        except ImportError_ as exc:
            count_refusal(request)
            return web.json_response({"error": exc.errors}, status=422)
        made = await asyncio.to_thread(status_events, rows, "webhook", engine=runtime.engine,
                                       settings=runtime.settings)
        recorded = await runtime.store.append(*made)
        return web.json_response({"accepted": len(recorded)}, status=202)

    app.router.add_post("/api/status", receive)


def count_refusal(request: web.Request) -> None:
    from bot.inbound import count

    count(request, "poison_input")


def _csv(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'
