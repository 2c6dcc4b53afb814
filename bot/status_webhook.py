"""`POST /api/status`: signed status updates from e-application systems."""

from __future__ import annotations

import json

from aiohttp import web

from bot import signing
from bot.runtime import Runtime


def attach(app: web.Application, runtime: Runtime) -> None:
    async def receive(request: web.Request) -> web.Response:
        secret = runtime.settings.status_secret
        if not secret:
            return web.json_response({"error": "CHONAI_STATUS_SECRET が設定されていません。"}, status=503)
        body = await request.read()
        if not signing.verify(secret, request.headers, body):
            return web.json_response({"error": "署名が正しくないか、時刻がずれています。"}, status=401)
        from commands.status import ImportError_, parse_statuses, status_events

        try:
            data = json.loads(body)
            items = data if isinstance(data, list) else [data]
            header = "receipt_no,procedure,status,updated_at\n"
            lines = []
            for item in items:
                if not isinstance(item, dict) or set(item) - {"receipt_no", "procedure", "status",
                                                              "updated_at"}:
                    raise ImportError_(["receipt_no, procedure, status, updated_at だけを送ってください。"])
                lines.append(",".join(_csv(str(item.get(k, ""))) for k in
                                      ("receipt_no", "procedure", "status", "updated_at")))
            rows = parse_statuses((header + "\n".join(lines)).encode())
        except (ValueError, ImportError_) as exc:
            errors = exc.errors if isinstance(exc, ImportError_) else ["JSON の形式が正しくありません。"]
            return web.json_response({"error": errors}, status=400)
        recorded = await runtime.store.append(*status_events(rows, "webhook"))
        return web.json_response({"accepted": len(recorded)}, status=202)

    app.router.add_post("/api/status", receive)


def _csv(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'
