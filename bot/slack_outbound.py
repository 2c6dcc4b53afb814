"""Posting to Slack for the delivery worker: chat.postMessage / postEphemeral / update, the
response_url of a command or button, images through files upload v2, and the look-up that
reconciles a post whose confirmation was lost.

Every post carries `metadata` naming its outbox row, so after a crash the row is found in the
channel's history instead of being posted again. Rate limits: about one post a second per
channel (in-process), a workspace-wide budget shared through the coordination service, and a
429's Retry-After, which holds back only that channel.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.adapters import DeliveryError, RetryAfter
from bot.slack_blocks import escape, render
from handlers.messages import Outbound
from store.staff import person_by_user_id

log = logging.getLogger(__name__)

METADATA_TYPE = "chonai_outbox"
INLINE_WAIT = 1.0  # seconds a post may wait for its slot in place; longer waits are requeued
HISTORY_PAGES = 5  # pages of 200 messages searched when reconciling
HOOK_HOSTS = ("hooks.slack.com", "hooks.slack-gov.com")
# Errors that no retry will cure.
PERMANENT = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "channel_is_archived", "msg_too_long",
    "no_text", "invalid_blocks", "invalid_blocks_format", "user_not_found", "users_not_found",
    "user_not_in_channel", "account_inactive", "invalid_auth", "not_authed", "token_revoked",
    "token_expired", "missing_scope", "restricted_action", "cannot_dm_bot", "invalid_arguments",
    "message_not_found", "cant_update_message", "edit_window_closed", "invalid_metadata_format",
    "invalid_metadata_schema", "metadata_too_large", "ekm_access_denied", "no_permission",
    "expired_url", "used_url", "no_service", "invalid_token", "team_access_not_granted"})
NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found"})
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")


def setting(settings: Any, name: str, default: float) -> float:
    """A number from CHONAI_<NAME> (environment) or <name> (chonai.toml)."""
    raw = settings.get(f"chonai_{name}") or settings.get(name)
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


class ChannelPacer:
    """A token bucket per channel, kept as the time its next post may go (GCRA form)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.interval = 1.0 / rate
        self.tolerance = max(0, burst - 1) * self.interval
        self._next: dict[str, float] = {}

    def reserve(self, channel: str, now: float) -> float:
        """Take the channel's next slot; returns the moment the post may be sent."""
        if len(self._next) > 10_000:
            self._next = {k: v for k, v in self._next.items() if v > now}
        due = max(self._next.get(channel, now), now)
        self._next[channel] = due + self.interval
        return max(now, due - self.tolerance)

    def hold(self, channel: str, until: float) -> None:
        """Nothing more to this channel before `until` (Slack said so with a 429)."""
        self._next[channel] = max(self._next.get(channel, 0.0), until + self.tolerance)


class SlackAdapter:
    platform = "slack"

    def __init__(self, settings: Any, engine: Any, coordination: Any, *, token: str,
                 api_url: str) -> None:
        self.engine = engine
        self.coordination = coordination
        self.token = token
        self.api_url = api_url
        self.pacer = ChannelPacer(setting(settings, "slack_channel_rate", 1.0),
                                  int(setting(settings, "slack_channel_burst", 3)))
        self.workspace_rate = setting(settings, "slack_workspace_rate", 5.0)
        self.workspace_burst = int(setting(settings, "slack_workspace_burst", 50))
        self.session: aiohttp.ClientSession | None = None
        self.client: AsyncWebClient | None = None
        self._slots: dict[int, float] = {}  # job -> reserved send time (monotonic), when requeued
        self._not_sent: set[int] = set()  # jobs whose last attempt surely never reached Slack
        self._dm_channels: dict[str, str] = {}
        self._me: dict[str, str] | None = None

    async def open(self) -> None:
        self.session = aiohttp.ClientSession()
        # No automatic retries: a resend after a lost answer could post twice; the outbox
        # retries, looking the post up first.
        self.client = AsyncWebClient(token=self.token, base_url=self.api_url,
                                     session=self.session, timeout=15, retry_handlers=[])

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    # -- the adapter protocol ----------------------------------------------------------------
    async def deliver(self, job_id: int, out: Outbound,
                      previous: dict[str, Any] | None) -> dict[str, Any]:
        try:
            result = await self._deliver(job_id, out, previous)
        except DeliveryError as exc:
            if exc.permanent:  # the worker gives up on it: nothing more to remember
                self._not_sent.discard(job_id)
                self._slots.pop(job_id, None)
            raise
        self._not_sent.discard(job_id)
        return result

    async def _deliver(self, job_id: int, out: Outbound,
                       previous: dict[str, Any] | None) -> dict[str, Any]:
        reply = out.reply or {}
        hook = self._hook_url(reply.get("response_url"))
        if out.update and previous and previous.get("ts") and not previous.get("ephemeral"):
            result = await self._update(job_id, out, previous)
        elif out.update and previous and hook:
            result = await self._hook(job_id, hook, out, replace=True)
        elif out.private_to and out.room != f"dm:{out.private_to}":
            result = await (self._hook(job_id, hook, out, ephemeral=True) if hook
                            else self._ephemeral(job_id, out))
        else:
            try:
                result = await self._post(job_id, out)
            except DeliveryError as exc:
                if exc.reason not in NOT_A_MEMBER or not hook:
                    raise
                # A command in a channel the bot has not joined: answer through the command.
                result = await self._hook(job_id, hook, out)
        return result

    async def lookup(self, job_id: int, out: Outbound) -> dict[str, Any] | None:
        if job_id in self._not_sent:  # this process saw that attempt fail before posting
            self._not_sent.discard(job_id)
            return None
        if out.private_to and out.room != f"dm:{out.private_to}":
            return None  # ephemeral posts cannot be looked up; only their reader could see two
        try:
            channel = await self._history_channel(out)
            ts = await self._find(channel, out.thread, job_id)
        except SlackApiError as exc:
            error = self._api_error(exc)
            if not error.permanent:
                raise error from None
            # The history cannot be read here (not a member, scope missing): the post could
            # not have gone there by chat.postMessage either, or we accept a rare repeat.
            log.warning("post %s not looked up: %s", job_id, error.reason)
            return None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(type(exc).__name__) from None
        return {"channel": channel, "ts": ts} if ts else None

    # -- sending -------------------------------------------------------------------------------
    async def _post(self, job_id: int, out: Outbound) -> dict[str, Any]:
        channel = await self._channel(out)
        image = None
        if out.image:
            try:
                image = await self._upload(job_id, channel, out.image)
            except DeliveryError as exc:
                if not exc.permanent:
                    raise
                log.warning("image for post %s not uploaded: %s", job_id, exc.reason)
        text, blocks = render(out, image_file=image)
        await self._pace(job_id, channel)
        answer = await self._call(job_id, channel, self.client.chat_postMessage(
            channel=channel, text=escape(text), blocks=blocks, thread_ts=out.thread,
            unfurl_links=False, metadata={"event_type": METADATA_TYPE,
                                          "event_payload": {"outbox_id": job_id}}))
        return {"channel": answer["channel"], "ts": answer["ts"]}

    async def _update(self, job_id: int, out: Outbound, previous: dict[str, Any]) -> dict:
        channel = previous["channel"]
        text, blocks = render(out)
        await self._pace(job_id, channel)
        answer = await self._call(job_id, channel, self.client.chat_update(
            channel=channel, ts=previous["ts"], text=escape(text), blocks=blocks))
        return {"channel": answer["channel"], "ts": answer["ts"], "updated": True}

    async def _ephemeral(self, job_id: int, out: Outbound) -> dict[str, Any]:
        channel = await self._channel(out)
        text, blocks = render(out)
        answer = await self._call(job_id, channel, self.client.chat_postEphemeral(
            channel=channel, user=out.private_to, text=escape(text), blocks=blocks,
            thread_ts=out.thread))
        return {"channel": channel, "message_ts": answer.get("message_ts"), "ephemeral": True}

    async def _hook(self, job_id: int, url: str, out: Outbound, *, ephemeral: bool = False,
                    replace: bool = False) -> dict[str, Any]:
        text, blocks = render(out)
        body: dict[str, Any] = {"text": escape(text), "blocks": blocks,
                                "response_type": "ephemeral" if ephemeral else "in_channel"}
        if replace:
            body["replace_original"] = True
        hook = AsyncWebhookClient(url, session=self.session, timeout=15, retry_handlers=[])
        try:
            answer = await hook.send_dict(body)
        except aiohttp.ClientConnectorError:
            self._not_sent.add(job_id)
            raise DeliveryError("connection_failed") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(type(exc).__name__) from None
        if answer.status_code == 429:
            self._not_sent.add(job_id)
            raise RetryAfter(_retry_after(answer.headers))
        if answer.status_code != 200:
            self._not_sent.add(job_id)
            reason = (answer.body or f"http_{answer.status_code}")[:100]
            raise DeliveryError(reason, permanent=answer.status_code < 500)
        return {"via": "response_url", **({"ephemeral": True} if ephemeral else {})}

    async def _upload(self, job_id: int, channel: str, name: str) -> str | None:
        """Upload a stored image privately; the post shows it by file id."""
        try:
            from store.blobs import get_blob
        except ImportError:
            log.warning("image %s skipped: no blob store", job_id)
            return None
        try:
            found = await asyncio.to_thread(get_blob, self.engine, name)
        except (KeyError, LookupError, FileNotFoundError):
            found = None
        if not found:
            log.warning("image for post %s not found", job_id)
            return None
        content_type, data = found
        extension = "png" if "png" in (content_type or "") else "bin"
        answer = await self._call(job_id, channel, self.client.files_upload_v2(
            content=data, filename=f"{name}.{extension}", title=name))
        files = answer.get("files") or []
        return files[0]["id"] if files else None

    async def _call(self, job_id: int, channel: str, request) -> Any:  # noqa: ANN001
        """Await one Web API call, translating its failures for the delivery worker."""
        try:
            return await request
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                seconds = _retry_after(exc.response.headers)
                self._hold(job_id, channel, seconds)
                raise RetryAfter(seconds) from None
            if exc.response.status_code < 500:
                self._not_sent.add(job_id)  # Slack answered and posted nothing
            raise self._api_error(exc) from None
        except aiohttp.ClientConnectorError:
            self._not_sent.add(job_id)
            raise DeliveryError("connection_failed") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The post may have arrived with its answer lost: the next attempt looks first.
            raise DeliveryError(type(exc).__name__) from None

    @staticmethod
    def _api_error(exc: SlackApiError) -> DeliveryError:
        code = str(exc.response.get("error") or f"http_{exc.response.status_code}")
        return DeliveryError(code[:100], permanent=code in PERMANENT)

    # -- rate limits -------------------------------------------------------------------------
    async def _pace(self, job_id: int, channel: str) -> None:
        now = time.monotonic()
        slot = self._slots.pop(job_id, None)
        if slot is None:
            slot = self.pacer.reserve(channel, now)
            shared = await self.coordination.take("slack:workspace", self.workspace_rate,
                                                  self.workspace_burst)
            slot = max(slot, now + shared)
        wait = slot - time.monotonic()
        if wait > INLINE_WAIT:
            # Requeue with the slot kept, so the worker's other rooms do not wait for this one.
            self._keep_slot(job_id, slot)
            raise RetryAfter(wait)
        if wait > 0:
            await asyncio.sleep(wait)

    def _hold(self, job_id: int, channel: str, seconds: float) -> None:
        until = time.monotonic() + seconds
        self.pacer.hold(channel, until)
        self._keep_slot(job_id, until)

    def _keep_slot(self, job_id: int, slot: float) -> None:
        if len(self._slots) > 10_000:
            now = time.monotonic()
            self._slots = {k: v for k, v in self._slots.items() if v > now - 600}
        self._slots[job_id] = slot
        self._not_sent.add(job_id)

    # -- where a post goes ---------------------------------------------------------------------
    def _hook_url(self, url: Any) -> str | None:
        """A response_url we may post to: Slack's hooks host, or the configured API host."""
        if not isinstance(url, str):
            return None
        parts = urlsplit(url)
        api = urlsplit(self.api_url)
        if parts.scheme == "https" and parts.hostname in HOOK_HOSTS:
            return url
        if (parts.scheme, parts.netloc) == (api.scheme, api.netloc):
            return url
        return None

    async def _channel(self, out: Outbound) -> str:
        if not out.room.startswith("dm:"):
            return out.room
        channel = (out.reply or {}).get("channel")
        if channel:
            return channel  # the conversation the person wrote to us from
        return await self._slack_user(out.room[3:])

    async def _slack_user(self, user: str) -> str:
        """A Slack user id for `dm:{user}`: one already, or the directory's mapping."""
        if _SLACK_USER.match(user):
            return user
        person = await asyncio.to_thread(person_by_user_id, self.engine, user)
        slack_id = person.platform_ids.get("slack") if person else None
        if not slack_id:
            raise DeliveryError("user_not_found", permanent=True)
        return slack_id

    async def _history_channel(self, out: Outbound) -> str:
        channel = await self._channel(out)
        if not _SLACK_USER.match(channel):
            return channel
        if channel not in self._dm_channels:  # history needs the DM's id, not the person's
            opened = await self.client.conversations_open(users=channel)
            self._dm_channels[channel] = opened["channel"]["id"]
        return self._dm_channels[channel]

    async def _identity(self) -> dict[str, str]:
        if self._me is None:
            answer = await self.client.auth_test()
            self._me = {"bot_id": answer.get("bot_id") or "", "user_id": answer.get("user_id")
                        or ""}
        return self._me

    async def _find(self, channel: str, thread: str | None, job_id: int) -> str | None:
        """The ts of our post for `job_id` in the channel (or thread), if it is there."""
        me = await self._identity()
        cursor = None
        for _ in range(HISTORY_PAGES):
            if thread:
                page = await self.client.conversations_replies(
                    channel=channel, ts=thread, limit=200, cursor=cursor,
                    include_all_metadata=True)
            else:
                page = await self.client.conversations_history(
                    channel=channel, limit=200, cursor=cursor, include_all_metadata=True)
            for message in page.get("messages", []):
                if _is_ours(message, job_id, me):
                    return message["ts"]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None


def _is_ours(message: dict[str, Any], job_id: int, me: dict[str, str]) -> bool:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != METADATA_TYPE:
        return False
    if str((metadata.get("event_payload") or {}).get("outbox_id")) != str(job_id):
        return False
    # Another app with its own outbox may post in the same channel.
    return (not me["bot_id"] or message.get("bot_id") == me["bot_id"]
            or (bool(me["user_id"]) and message.get("user") == me["user_id"]))


def _retry_after(headers: Any) -> float:
    headers = headers or {}
    try:
        return max(0.0, float(headers.get("Retry-After") or headers.get("retry-after") or 1))
    except (TypeError, ValueError):
        return 1.0
