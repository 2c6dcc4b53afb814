"""The one aiohttp server: talk room, platform endpoints, health and metrics."""

from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.config import Settings
from bot.runtime import Runtime

log = logging.getLogger(__name__)

RUNTIME = web.AppKey("runtime", Runtime)
MAX_BODY = 1024 * 1024  # a 1 MB message is refused with 413 before it is read whole


@web.middleware
async def guard_errors(request: web.Request, handler):  # noqa: ANN001
    """Every failure becomes a clean JSON answer; the process never dies of a request."""
    runtime = request.app[RUNTIME]
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "?"
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except (OperationalError, DBAPIError, ConnectionError, TimeoutError) as exc:
        status = 503
        log.warning("storage unavailable on %s: %s", route, type(exc).__name__)
        return web.json_response({"error": "一時的に保存できません。しばらくしてから再送してください。"},
                                 status=503)
    except Exception as exc:
        log.exception("request failed on %s: %s", route, type(exc).__name__)
        return web.json_response({"error": "内部エラーが発生しました。"}, status=500)
    finally:
        runtime.metrics.requests.labels(route, str(status)).inc()


async def healthz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        position, _ = runtime.store.head()
    except Exception as exc:
        return web.json_response({"status": "degraded", "database": type(exc).__name__},
                                 status=503)
    return web.json_response({"status": "ok", "events": position,
                              "adapters": sorted(runtime.adapters)})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[RUNTIME].metrics.render()
    return web.Response(body=body, content_type="text/plain", charset="utf-8")


def build_app(settings: Settings, runtime: Runtime | None = None) -> web.Application:
    runtime = runtime or Runtime(settings)
    app = web.Application(middlewares=[guard_errors], client_max_size=MAX_BODY)
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)

    from bot.local import LocalRoom

    local = LocalRoom(runtime)
    local.routes(app)
    runtime.add_adapter(local)
    for attach in platform_attachers():
        attach(app, runtime)

    async def lifecycle(app: web.Application):
        await runtime.start()
        yield
        await runtime.stop()

    app.cleanup_ctx.append(lifecycle)
    return app


def platform_attachers() -> list:
    """Adapters and routes for external platforms; each attaches only when configured."""
    from bot import lineworks, slack, status_webhook, webhook

    return [slack.attach, lineworks.attach, webhook.attach, status_webhook.attach]
