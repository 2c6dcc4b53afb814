"""Checks for the routes a browser reaches (the talk room page, its API, chart images, sign-in):
the Host must be one of ours (no DNS rebinding), a state-changing request must be JSON from
the page's own origin (no cross-site form or fetch), and every answer forbids framing.

Signed platform routes (Slack, LINE WORKS, the relay, /api/status) are authenticated by their
signatures and are not checked here, so they work behind any host name."""

from __future__ import annotations

import functools
import socket
from urllib.parse import urlsplit

from aiohttp import web

from bot.config import Settings
from bot.inbound import count

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "script-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """CHONAI_ALLOWED_HOSTS (comma-separated), or the bind address and the loopback names;
    bound beyond loopback, this machine's own names too."""
    return _allowed_hosts(settings.get("chonai_allowed_hosts"), settings.host)


@functools.lru_cache(maxsize=8)
def _allowed_hosts(configured_setting: str, host: str) -> frozenset[str]:
    configured = [h.strip().lower().strip("[]") for h in configured_setting.split(",") if h.strip()]
    if configured:
        return frozenset(configured)
    names = {*LOOPBACK_NAMES, host.lower().strip("[]")}
    if host not in LOOPBACK_NAMES:
        names.update({socket.gethostname().lower(), socket.getfqdn().lower()})
    return frozenset(names - {"0.0.0.0", "::", ""})


def host_name(host_header: str) -> str:
    """'example.org:8080' → 'example.org'; '[::1]:8080' → '::1'."""
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1:] if end > 0 else "x"
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return ""  # "[::1]evil.com" is no host of ours
        return host[1:end]
    name, _, port = host.rpartition(":")
    return name if name and port.isdigit() else host


def same_origin(origin: str, host_header: str) -> bool:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    default = "443" if parts.scheme == "https" else "80"
    given = parts.netloc.lower()
    expected = host_header.strip().lower()
    return given == expected or given == f"{expected}:{default}" or f"{given}:{default}" == expected


def refusal(request: web.Request, status: int, reason: str, message: str) -> web.Response:
    count(request, reason)
    return web.json_response({"error": message}, status=status, headers=HEADERS)


def check(request: web.Request, hosts: frozenset[str]) -> web.Response | None:
    """A refusal for a request that must not reach a talk-room handler, or None."""
    if host_name(request.headers.get("Host", "")) not in hosts:
        return refusal(request, 421, "host", "このアドレス（Host）では利用できません。")
    if request.method in SAFE_METHODS:
        return None
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    if fetch_site in ("cross-site", "same-site"):
        return refusal(request, 403, "cross_site", "ほかのサイトからの操作は受け付けません。")
    origin = request.headers.get("Origin")
    if origin is not None and not same_origin(origin, request.headers.get("Host", "")):
        return refusal(request, 403, "cross_site", "ほかのサイトからの操作は受け付けません。")
    if request.path.startswith("/signin"):
        return None  # the sign-in form posts as a form, from our own page
    if request.content_type != "application/json":
        return refusal(request, 415, "content_type", "Content-Type: application/json で送ってください。")
    return None


def guarded(settings: Settings, handler):  # noqa: ANN001, ANN201
    """The handler of a browser route, behind the checks above. Only these routes carry them:
    the platforms' signed routes (a broadcast's 10,000 clicks) pay nothing for them."""
    hosts = allowed_hosts(settings)

    async def browser_route(request: web.Request) -> web.StreamResponse:
        refused = check(request, hosts)
        if refused is not None:
            return refused
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # a 4xx of the handler gets the same headers
            for name, value in HEADERS.items():
                exc.headers.setdefault(name, value)
            raise
        if not response.prepared:
            for name, value in HEADERS.items():
                response.headers.setdefault(name, value)
            if request.path.startswith("/api/"):
                response.headers.setdefault("Cache-Control", "no-store")
        return response

    return browser_route
