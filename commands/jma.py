"""Automatic safety confirmation on JMA earthquake reports.

A background job polls the JMA Atom feed politely (conditional GET, each report fetched once,
remembered in the log), reads VXSE51/VXSE53 reports and applies the rule: a strong enough
intensity in a configured area prepares a broadcast — sent at once when configured, otherwise
offered to broadcasters with a 送信 button. One earthquake (EventID) gives at most one
broadcast within the suppression window; a stronger update updates the notice; 取消 posts a
cancellation. Every step is an event, so an auditor can see why the bot did or did not send.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from commands.broadcast import SAFETY, fan_out
from commands.context import Services
from handlers.jma import rule
from handlers.jma.report import ReportError, parse_feed, parse_report
from handlers.messages import Button, Outbound
from store import broadcasts as broadcast_table
from store.events import NewEvent
from handlers.destinations import default_platform, private_targets, resolve
from store.staff import has_role, people

log = logging.getLogger(__name__)
DEFAULT_FEED = "https://www.data.jma.go.jp/developer/xml/feed/eqvol.xml"
MAX_DOCUMENT = 2_000_000


@dataclass(frozen=True)
class WatchConfig:
    feed: str
    areas: rule.Areas
    min_int: str
    poll_seconds: float
    auto_send: bool
    suppress_hours: float
    drills: bool
    platform: str
    room: str

    @classmethod
    def from_settings(cls, settings) -> WatchConfig:
        get = settings.get
        feed = get("chonai_jma_feed", DEFAULT_FEED)
        poll = float(get("chonai_jma_poll_seconds", "60") or 60)
        if (urlparse(feed).hostname or "").endswith("jma.go.jp"):
            poll = max(10.0, poll)  # JMA blocks clients that poll too often
        # Proposals go to every broadcaster privately; CHONAI_JMA_ROOM adds a 本部 room.
        room_setting = get("chonai_jma_room", "")
        platform, room = resolve(settings, "CHONAI_JMA_ROOM", room_setting) if room_setting \
            else (default_platform(settings), "")
        yes = ("1", "true", "yes", "on")
        return cls(feed=feed, areas=rule.Areas.parse(get("chonai_jma_areas", "")),
                   min_int=get("chonai_jma_min_intensity", "5-") or "5-", poll_seconds=poll,
                   auto_send=get("chonai_jma_auto_send", "").lower() in yes,
                   suppress_hours=float(get("chonai_jma_suppress_hours", "6") or 6),
                   drills=get("chonai_jma_drills", "").lower() in yes,
                   platform=platform, room=room)


class FeedReader:
    """Conditional GETs of the feed; each linked report fetched at most once."""

    def __init__(self, session, feed: str) -> None:
        self.session = session
        self.feed = feed
        self.validators: dict[str, str] = {}

    async def changed_entries(self) -> list:
        headers = {}
        if etag := self.validators.get("etag"):
            headers["If-None-Match"] = etag
        if modified := self.validators.get("modified"):
            headers["If-Modified-Since"] = modified
        async with self.session.get(self.feed, headers=headers) as resp:
            if resp.status == 304:
                return []
            if resp.status != 200:
                raise ReportError(f"feed answered {resp.status}")
            data = await resp.content.read(MAX_DOCUMENT + 1)
            self.validators = {k: v for k, v in (("etag", resp.headers.get("ETag")),
                                                 ("modified", resp.headers.get("Last-Modified"))) if v}
        return [e for e in parse_feed(data) if e.kind]

    async def fetch(self, url: str) -> bytes:
        async with self.session.get(url) as resp:
            if resp.status != 200:
                raise ReportError(f"report answered {resp.status}")
            return await resp.content.read(MAX_DOCUMENT + 1)


async def background(services: Services) -> None:
    import aiohttp

    config = WatchConfig.from_settings(services.settings)
    if not config.areas.entries:
        return  # no CHONAI_JMA_AREAS: the watcher is off
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": "chonai-bot"}) as session:
        reader = FeedReader(session, config.feed)
        failures = 0
        while True:
            try:
                await poll_once(services, config, reader)
                failures = 0
            except (ReportError, aiohttp.ClientError, TimeoutError) as exc:
                failures += 1
                log.warning("JMA feed poll failed: %s", type(exc).__name__)
            # Back off on errors; never faster than the configured interval.
            await asyncio.sleep(config.poll_seconds * min(8, 2 ** failures if failures else 1))


async def poll_once(services: Services, config: WatchConfig, reader: FeedReader) -> list[str]:
    """Read what is new in the feed; returns the decisions taken."""
    decisions = []
    for entry in reversed(await reader.changed_entries()):  # the feed lists newest first
        key = f"jma:report:{entry.link}"
        if await asyncio.to_thread(services.store.by_key, key):
            continue  # fetched once, remembered in the log
        try:
            report = parse_report(await reader.fetch(entry.link))
        except ReportError as exc:
            await services.store.append(NewEvent(
                "jma.report_rejected", "jma:rejected", {"source": entry.link, "reason": str(exc)},
                actor="jma", idempotency_key=key))
            decisions.append("rejected")
            continue
        decisions.append(await handle_report(services, config, report, entry.link))
    return decisions


async def handle_report(services: Services, config: WatchConfig, report, source: str) -> str:
    store = services.store
    stream = f"jma:{report.event_id}"
    history = await asyncio.to_thread(store.stream, stream)
    [seen] = await store.append(NewEvent(
        "jma.report_seen", stream,
        {"source": source, "kind": report.kind, "event_id": report.event_id,
         "serial": report.serial, "info_type": report.info_type, "status": report.status,
         "max_int": report.max_int}, actor="jma", idempotency_key=f"jma:report:{source}"))
    decide = lambda decision, reason, **extra: _record(store, stream, seen.position, decision,
                                                       reason, extra)
    drill = report.status == "訓練"
    if report.status != "通常" and not (drill and config.drills):
        return await decide("ignored", f"{report.status}の情報のため送りません")
    prior = [e for e in history if e.type == "jma.decided" and e.payload["decision"] in
             ("proposed", "sent", "updated")]
    if report.info_type == "取消":
        if not prior:
            return await decide("ignored", "取り消された地震について送ったものはありません")
        return await _cancel(services, config, report, prior[0].payload["broadcast"], decide)
    found = rule.match(report, config.areas)
    if found is None or rule.level(found.max_int) < rule.level(config.min_int):
        strongest = found.max_int if found else "なし"
        return await decide("not_matched", f"設定地域の最大震度（{strongest}）が基準"
                                           f"（{rule.label(config.min_int)}）に達していません")
    now = services.clock()
    if prior and rule.suppressed(prior[0].time, now, config.suppress_hours):
        previous = rule.strongest(e.payload.get("max_int", "") for e in prior)
        if rule.level(found.max_int) > rule.level(previous):
            await _update(services, config, report, found, prior[0].payload["broadcast"], drill)
            return await decide("updated", f"{rule.label(found.max_int)}に強まったため通知を更新しました",
                                broadcast=prior[0].payload["broadcast"], max_int=found.max_int)
        return await decide("suppressed", "同じ地震について送信済み（抑止時間内）です")
    bid = seen.position
    item = await _prepare(services, config, report, found, bid, drill)
    if config.auto_send:
        recipients = await asyncio.to_thread(broadcast_table.recipients, services.get("engine"), bid)
        await fan_out(store, item, recipients, actor="jma", causation=f"jma:{report.event_id}")
        return await decide("sent", "基準を超えたため自動で送信しました", broadcast=bid,
                            max_int=found.max_int)
    await store.append(*await _posts(
        services, config, "【自動提案】次の安否確認を送りますか？（broadcaster の職員が送信できます）\n\n"
        + item["body"], f"jma:{report.event_id}:proposal", key=f"jma:{bid}:offer",
        buttons=[Button("送信", "broadcast.send", str(bid)),
                 Button("取消", "broadcast.cancel", str(bid), "danger")]))
    return await decide("proposed", "基準を超えたため broadcaster に送信を提案しました", broadcast=bid,
                        max_int=found.max_int)


async def _record(store, stream: str, cause: int, decision: str, reason: str,
                  extra: dict[str, Any]) -> str:
    await store.append(NewEvent("jma.decided", stream, {"decision": decision, "reason": reason, **extra},
                                actor="jma", causation_id=str(cause),
                                idempotency_key=f"jma:decided:{cause}"))
    return decision


async def _posts(services: Services, config: WatchConfig, text: str, ref: str, *, key: str,
                 buttons=()) -> list[NewEvent]:
    """The same message to every broadcaster privately, on each platform they use, and to
    the 本部 room when CHONAI_JMA_ROOM names one."""
    engine = services.get("engine")
    broadcasters = [p for p in await asyncio.to_thread(people, engine) if has_role(p, "broadcaster")]
    targets = [t for p in broadcasters for t in private_targets(services.settings, p)]
    if config.room:
        targets.append((config.platform, config.room))
    if not targets:
        log.warning("JMA: no broadcaster in the directory and no CHONAI_JMA_ROOM: nobody to tell")
    events = []
    for platform, room in dict.fromkeys(targets):
        out = Outbound(platform, room, text, tuple(buttons), ref=f"{ref}:{platform}:{room}",
                       priority=1)
        events.append(NewEvent("outbound.requested", f"outbox:{platform}:{room}", out.to_payload(),
                               actor="jma", platform=platform,
                               idempotency_key=f"{key}:{platform}:{room}"))
    return events


async def _prepare(services: Services, config: WatchConfig, report, found, bid: int,
                   drill: bool) -> dict[str, Any]:
    engine = services.get("engine")
    targets = await asyncio.to_thread(people, engine)
    options = {"drill": drill, "answers": SAFETY, "departments": [], "reminders": [10, 30],
               "room": config.room, "mode": "dm"}
    body = rule.notice_text(report, found, services.settings.tz, drill)
    await services.store.append(NewEvent("broadcast.prepared", f"broadcast:{bid}", {
        "id": bid, "sender": "jma", "platform": config.platform, "room": config.room,
        "body": body, "options": options,
        "targets": [{"user_id": p.user_id, "department": p.department,
                     "platform_user": p.id_on(config.platform)} for p in targets]},
        actor="jma", idempotency_key=f"jma:{bid}:prepared"))
    await services.get("catch_up")()
    return {"id": bid, "platform": config.platform, "room": config.room, "body": body,
            "options": options}


async def _update(services: Services, config: WatchConfig, report, found, bid: int,
                  drill: bool) -> None:
    text = "【更新】" + rule.notice_text(report, found, services.settings.tz, drill)
    await services.store.append(*await _posts(services, config, text, f"jma:{report.event_id}:update",
                                              key=f"jma:{bid}:update:{found.max_int}"))


async def _cancel(services: Services, config: WatchConfig, report, bid: int, decide) -> str:
    store = services.store
    engine = services.get("engine")
    item = await asyncio.to_thread(broadcast_table.get, engine, bid)
    text = rule.cancel_text(report)
    events = [NewEvent("broadcast.cancelled", f"broadcast:{bid}", {"id": bid}, actor="jma",
                       idempotency_key=f"broadcast:{bid}:decided")]
    if item and item["status"] == "sent":
        recipients = await asyncio.to_thread(broadcast_table.recipients, engine, bid)
        events = [NewEvent("broadcast.closed", f"broadcast:{bid}", {"id": bid}, actor="jma",
                           idempotency_key=f"jma:{bid}:closed")]
        for r in recipients:
            out = Outbound(item["platform"], f"dm:{r['platform_user']}", text, priority=1)
            events.append(NewEvent("outbound.requested", f"outbox:{out.platform}:{out.room}",
                                   out.to_payload(), actor="jma", platform=out.platform,
                                   idempotency_key=f"jma:{bid}:cancel:{r['user_id']}"))
    events.extend(await _posts(services, config, text, f"jma:{report.event_id}:cancel",
                               key=f"jma:{bid}:cancel"))
    await store.append(*events)
    return await decide("cancelled", "気象庁が取り消したため取消を送りました", broadcast=bid)
