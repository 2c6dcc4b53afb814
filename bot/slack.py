"""Slack (and Slack-compatible workspaces) through slack-bolt: slash commands, @mentions, DMs
and button presses come in on `POST /slack/events` (or over Socket Mode), are recorded in the
event log and only then acknowledged; replies go out through `bot.slack_outbound`.

Active only when Slack is configured (`SLACK_BOT_TOKEN` with `SLACK_SIGNING_SECRET`, or with
`SLACK_APP_TOKEN` for Socket Mode). Nothing outside bot/ sees Slack's JSON: payloads become
neutral `Incoming` requests here.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_base_handler import AsyncBaseSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

from bot.inbound import check_strings, may_hold_poison, refuse, refuse_bad_input
from bot.slack_blocks import our_action_id, ref_from_block, unescape
from bot.slack_outbound import SlackAdapter, setting
from handlers.messages import BadInput, Incoming
from handlers.router import parse_text

log = logging.getLogger(__name__)

PLATFORM = "slack"
DEFAULT_API_URL = "https://slack.com/api/"
RECORDED_TTL = 3600.0  # seconds a delivery id stays known in Redis; Slack retries within minutes
TOO_LONG = "メッセージが長すぎます（40,000文字まで）。分けて送ってください。"

_LEADING_MENTIONS = re.compile(r"^\s*(?:<@[A-Z0-9]+(?:\|[^>]*)?>[\s\u3000:：、,]*)+")


class StorageUnavailable(Exception):
    """The event log refused the request; Slack gets an error and retries."""


# -- payload → Incoming -------------------------------------------------------------------------
def _room(channel: str, channel_name: str | None, user: str) -> str:
    # "directmessage" is how Slack names a DM in commands and actions; DMs are `dm:{user}`.
    return f"dm:{user}" if channel_name == "directmessage" else channel


def _digest(body: Mapping[str, Any]) -> str:
    text = "&".join(f"{k}={body[k]}" for k in sorted(body) if isinstance(body[k], str))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _addressed_text(text: str) -> tuple[str, str | None, str]:
    """(kind, command, text) for words addressed to the bot: a /command or a mention."""
    stripped = unescape(_LEADING_MENTIONS.sub("", text or "")).strip()
    kind, name, rest = parse_text(stripped)
    if kind == "command":
        return "command", name, rest
    return "mention", None, rest if kind == "mention" else stripped


def from_command(body: Mapping[str, Any]) -> Incoming:
    name = unicodedata.normalize("NFKC", str(body.get("command", ""))).lstrip("/").lower()
    channel, user = str(body.get("channel_id", "")), str(body.get("user_id", ""))
    reply = {"response_url": body.get("response_url"), "channel": channel}
    return Incoming(
        platform=PLATFORM, kind="command", user=user,
        room=_room(channel, body.get("channel_name"), user),
        delivery_id="cmd:" + str(body.get("trigger_id") or _digest(body)),
        text=unescape(str(body.get("text", ""))).strip(), command=name,
        reply={k: v for k, v in reply.items() if v})


def from_event(body: Mapping[str, Any]) -> Incoming | None:
    event = body.get("event") or {}
    kind = event.get("type")
    if event.get("bot_id") or event.get("subtype"):
        return None  # bots (ourselves included) and edits, joins…: not addressed to us
    if kind == "message" and event.get("channel_type") == "im":
        room = f"dm:{event.get('user', '')}"
    elif kind == "app_mention":
        room = str(event.get("channel", ""))
    else:
        return None
    what, command, text = _addressed_text(str(event.get("text", "")))
    channel = str(event.get("channel", ""))
    delivery = body.get("event_id") or f"{channel}:{event.get('ts')}"
    return Incoming(
        platform=PLATFORM, kind=what, user=str(event.get("user", "")), room=room,
        delivery_id=f"ev:{delivery}", text=text, command=command,
        message_id=event.get("ts"), thread=event.get("thread_ts"),
        reply={"channel": channel} if channel else {})


def from_block_actions(body: Mapping[str, Any]) -> Incoming | None:
    actions = body.get("actions") or []
    if not actions:
        return None
    action = actions[0]
    value = action.get("value")
    if value is None:
        value = (action.get("selected_option") or {}).get("value", "")
    user = str((body.get("user") or {}).get("id", ""))
    container = body.get("container") or {}
    channel_info = body.get("channel") or {}
    channel = str(channel_info.get("id") or container.get("channel_id") or "")
    message = body.get("message") or {}
    message_ts = container.get("message_ts") or message.get("ts")
    reply = {"response_url": body.get("response_url"), "channel": channel, "ts": message_ts,
             "ref": ref_from_block(action.get("block_id"))}
    delivery = body.get("trigger_id") or f"{action.get('action_ts')}:{user}"
    return Incoming(
        platform=PLATFORM, kind="action", user=user,
        room=_room(channel, channel_info.get("name"), user), delivery_id=f"act:{delivery}",
        action_id=our_action_id(str(action.get("action_id", ""))), value=str(value or ""),
        message_id=message_ts, thread=message.get("thread_ts"),
        reply={k: v for k, v in reply.items() if v})


_SHAPES = {"event": dict, "actions": list, "container": dict, "message": dict, "view": dict}


def well_formed(body: Any) -> bool:
    """A payload whose parts have the types Slack sends; anything else is refused with 400."""
    if not isinstance(body, dict):
        return False
    if any(k in body and not isinstance(body[k], t) for k, t in _SHAPES.items()):
        return False
    if not all(isinstance(a, dict) for a in body.get("actions", ())):
        return False
    return all(isinstance(body.get(k, {}), (dict, str)) for k in ("user", "channel", "team"))


def to_incoming(body: Mapping[str, Any]) -> Incoming | None:
    """The neutral request for a Slack payload, or None when it is not addressed to the bot."""
    if body.get("command") and not body.get("type"):
        return from_command(body)
    if body.get("type") == "event_callback":
        return from_event(body)
    if body.get("type") == "block_actions":
        return from_block_actions(body)
    return None


# -- inbound: bolt listeners ------------------------------------------------------------------
def retry_number(headers: Mapping[str, Any]) -> int:
    """Slack's retry count (HTTP header, or Socket Mode's retry_attempt mapped onto it)."""
    value = headers.get("x-slack-retry-num")
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def fixed_authorize(token: str):  # noqa: ANN201
    """One workspace and one bot token: no auth.test call on the request path."""
    async def authorize(enterprise_id: str | None = None,
                        team_id: str | None = None) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)
    return authorize


_SIGNED_HEADERS = ("X-Slack-Signature", "X-Slack-Request-Timestamp")


class SlackInbound:
    """Records each request in the log, then acks; the dispatcher does the work later."""

    def __init__(self, runtime: Any, *, token: str, signing_secret: str, api_url: str,
                 verify: bool) -> None:
        self.runtime = runtime
        self.coordination = runtime.services.get("coordination")
        self.shared_dedupe = bool(runtime.settings.redis_url)
        self.verifier = SignatureVerifier(signing_secret) if verify else None
        bolt_log = logging.getLogger("bot.slack.bolt")
        bolt_log.setLevel(logging.ERROR)  # bolt's warnings quote payloads: staff text stays out
        self.bolt = AsyncApp(
            name="chonai", logger=bolt_log, signing_secret=signing_secret or None,
            authorize=fixed_authorize(token), client=AsyncWebClient(base_url=api_url),
            process_before_response=True,  # ack returns at once, no 10 ms ack polling
            # handle_http verifies the signature itself, before bolt parses anything.
            request_verification_enabled=False, ignoring_self_events_enabled=False,
            url_verification_enabled=True, ssl_check_enabled=True)
        self.bolt.command(re.compile(r".*"))(self._record)
        self.bolt.action(re.compile(r".*"))(self._record)
        self.bolt.event("app_mention")(self._record)
        self.bolt.event("message")(self._record)
        # Everything else is acknowledged, so Slack neither retries nor disables events.
        self.bolt.event(re.compile(r".*"))(self._ack_only)
        self.bolt.view(re.compile(r".*"))(self._ack_only)
        self.bolt.shortcut(re.compile(r".*"))(self._ack_only)
        self.bolt.options(re.compile(r".*"))(self._ack_only)

    async def _ack_only(self, ack) -> None:  # noqa: ANN001
        await ack()

    async def _record(self, ack, body, request) -> None:  # noqa: ANN001
        try:
            incoming = to_incoming(body)
        except BadInput:  # too long: the sender is told, nothing is stored
            if body.get("command"):
                await ack(text=TOO_LONG)
            else:
                await ack()
            return
        except (TypeError, ValueError, AttributeError):  # a shape we do not know: nothing to do
            await ack()
            return
        if incoming is None:
            await ack()
            return
        if retry_number(request.headers) and await self._already_recorded(incoming):
            await ack()
            return
        try:
            await self.runtime.accept(incoming)
        except Exception as exc:  # no ack: Slack retries, and the retry is recorded then
            log.warning("slack request not recorded: %s", type(exc).__name__)
            raise StorageUnavailable("event log unavailable") from None
        await self._mark_recorded(incoming)
        await ack()

    # A shared marker (Redis) lets a retry skip the database; it is set only after the
    # request is durably recorded, so a failed attempt never hides its retry.
    async def _already_recorded(self, incoming: Incoming) -> bool:
        if not self.shared_dedupe:
            return False
        name = "slack:recorded:" + incoming.delivery_id
        token = await self.coordination.acquire(name, RECORDED_TTL)
        if token is None:
            return True
        await self.coordination.release(name, token)
        return False

    async def _mark_recorded(self, incoming: Incoming) -> None:
        if self.shared_dedupe:
            await self.coordination.acquire("slack:recorded:" + incoming.delivery_id,
                                            RECORDED_TTL)

    # -- HTTP ----------------------------------------------------------------------------------
    async def handle_http(self, request: web.Request) -> web.Response:
        raw = await request.read()  # the app's client_max_size answers 413 past 1 MB
        headers = request.headers
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return refuse(request, 400, "poison_input", "malformed body")
        if self.verifier is not None and not (
                all(headers.get(h, "").isascii() for h in _SIGNED_HEADERS)
                and self.verifier.is_valid_request(body, dict(headers))):
            return refuse(request, 401, "signature", "invalid signature")
        try:
            bolt_request = AsyncBoltRequest(body=body, query=request.query_string,
                                            headers=headers)
            if may_hold_poison(body):
                check_strings(bolt_request.body)
        except BadInput as exc:
            return refuse_bad_input(request, exc)
        except Exception:  # noqa: BLE001 — bodies that do not parse (or nest too deep)
            return refuse(request, 400, "poison_input", "malformed body")
        if not well_formed(bolt_request.body):
            return refuse(request, 400, "poison_input", "malformed body")
        response = await self.bolt.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)


# -- Socket Mode ----------------------------------------------------------------------------
class _ReconnectingClient(SocketModeClient):
    """slack_sdk's aiohttp client, pausing longer after each failed connection attempt."""

    failures = 0

    async def issue_new_wss_url(self) -> str:
        if self.failures:
            await asyncio.sleep(min(60.0, 2.0 ** self.failures) * (0.5 + random.random() / 2))
        try:
            url = await super().issue_new_wss_url()
        except Exception:
            self.failures += 1
            raise
        self.failures = 0
        return url


class SocketModeRunner(AsyncBaseSocketModeHandler):
    """Bolt's Socket Mode handler over the reconnecting client."""

    def __init__(self, app: AsyncApp, app_token: str, web_client: AsyncWebClient,
                 ping_interval: float) -> None:
        self.app = app
        self.client = _ReconnectingClient(app_token=app_token, web_client=web_client,
                                          ping_interval=ping_interval,
                                          logger=logging.getLogger("bot.slack.socket"))
        self.client.socket_mode_request_listeners.append(self.handle)

    async def handle(self, client: SocketModeClient, req) -> None:  # noqa: ANN001
        started = asyncio.get_running_loop().time()
        response = await run_async_bolt_app(self.app, req)
        await send_async_response(client, req, response, started)


# -- wiring ---------------------------------------------------------------------------------
def api_url(settings: Any) -> str:
    url = settings.slack_api_url or DEFAULT_API_URL
    return url if url.endswith("/") else url + "/"


def attach(app: web.Application, runtime: Any) -> None:
    """Add Slack to the server when it is configured; otherwise do nothing."""
    settings = runtime.settings
    if not settings.slack_enabled:
        return
    socket_mode = bool(settings.slack_app_token)
    inbound = SlackInbound(runtime, token=settings.slack_bot_token,
                           signing_secret=settings.slack_signing_secret, api_url=api_url(settings),
                           verify=not socket_mode)
    adapter = SlackAdapter(settings, runtime.engine, runtime.services.get("coordination"),
                           token=settings.slack_bot_token, api_url=api_url(settings))
    runtime.add_adapter(adapter)
    runtime.services.features["staff_sync"] = sync_staff  # the daily users.list sync
    if not socket_mode:
        app.router.add_post("/slack/events", inbound.handle_http)
    runner: list[SocketModeRunner] = []
    connecting: list[asyncio.Task] = []

    async def start(_: web.Application) -> None:
        await adapter.open()
        if socket_mode:
            runner.append(SocketModeRunner(inbound.bolt, settings.slack_app_token,
                                           AsyncWebClient(base_url=api_url(settings)),
                                           setting(settings, "slack_ping_interval", 10.0)))
            # Connecting retries on its own; the server starts without waiting for Slack.
            connecting.append(asyncio.create_task(runner[0].connect_async()))

    async def stop_receiving(_: web.Application) -> None:
        for task in connecting:
            task.cancel()
        for handler in runner:
            await handler.close_async()

    async def close(_: web.Application) -> None:
        await adapter.close()

    # Startup handlers added here run after the runtime's cleanup_ctx has started the log and
    # the workers; cleanup ones after it has stopped them, so posts in flight can finish.
    app.on_startup.append(start)
    app.on_shutdown.append(stop_receiving)
    app.on_cleanup.append(close)


# -- staff directory ----------------------------------------------------------------------------
NO_DEPARTMENT = "（所属未設定）"


async def read_users(settings: Any) -> list[dict[str, str]]:
    """Every active person in the workspace (users.list, all pages): id, name, title."""
    people: list[dict[str, str]] = []
    async with aiohttp.ClientSession() as session:
        client = AsyncWebClient(token=settings.slack_bot_token, base_url=api_url(settings),
                                session=session, retry_handlers=[
                                    AsyncConnectionErrorRetryHandler(),
                                    AsyncRateLimitErrorRetryHandler(max_retry_count=5)])
        cursor = None
        while True:
            page = await client.users_list(limit=200, cursor=cursor)
            for member in page.get("members", []):
                if member.get("deleted") or member.get("is_bot") or member.get("id") == "USLACKBOT":
                    continue
                profile = member.get("profile") or {}
                name = (profile.get("real_name") or member.get("real_name")
                        or profile.get("display_name") or member.get("name") or "")
                people.append({"id": member["id"], "name": name,
                               "title": profile.get("title") or ""})
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return people


def merge_directory(current: list[Any], users: list[dict[str, str]]) -> list[dict[str, Any]]:
    """The directory after a Slack sync: Slack's people with their names, departments and
    roles kept from the directory (Slack has none); people only elsewhere stay as they are."""
    by_slack = {p.platform_ids["slack"]: p for p in current if p.platform_ids.get("slack")}
    by_user = {p.user_id: p for p in current}
    merged: dict[str, dict[str, Any]] = {
        p.user_id: {"user_id": p.user_id, "name": p.name, "department": p.department,
                    "roles": list(p.roles), "platform_ids": dict(p.platform_ids)}
        for p in current}
    for user in users:
        known = by_slack.get(user["id"]) or by_user.get(user["id"])
        if known is None:
            merged[user["id"]] = {"user_id": user["id"], "name": user["name"] or user["id"],
                                  "department": NO_DEPARTMENT, "roles": [],
                                  "platform_ids": {"slack": user["id"]}}
            continue
        row = merged[known.user_id]
        row["name"] = user["name"] or row["name"]
        row["platform_ids"]["slack"] = user["id"]
    return list(merged.values())


async def sync_staff(settings: Any, engine: Any) -> tuple[int, int]:
    """Replace the directory with its Slack-synced version (one event); (people, new ones).

    Starts from the directory in the log and appends only if it has not moved since, so an
    import made meanwhile is never overwritten (the merge is redone on top of it)."""
    from commands.staff import replace_directory
    from store.events import ConcurrencyError, EventStore
    from store.staff import directory_from_log

    users = await read_users(settings)
    if not users:  # a workspace with nobody in it is a wrong token or a broken answer
        raise SyncRefused("Slack returned no users; the directory is left as it is")
    store = EventStore(engine)
    for _ in range(5):
        version, current = await asyncio.to_thread(directory_from_log, store)
        rows = merge_directory(current, users)
        try:
            await replace_directory(engine, rows, actor="slack-sync", expected_version=version)
        except ConcurrencyError:
            continue
        return len(rows), len(rows) - len(current)
    raise SyncRefused("the directory kept changing during the sync; try again")


class SyncRefused(Exception):
    """The Slack sync left the directory unchanged, for the reason given."""
