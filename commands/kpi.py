"""/kpi: DX KPI digests on demand and on a schedule, posted exactly once per period.

Schedules are events (`kpi.schedule_added` / `kpi.schedule_removed`, plus the default from
CHONAI_KPI_CHANNEL / CHONAI_KPI_CRON). APScheduler runs them in Asia/Tokyo; every firing and
every catch-up after downtime goes through `run_due`, whose post carries an idempotency key
for its period, so restarts and several instances still post each period once. A firing that
falls on a weekend or a Japanese public holiday waits for the next business day.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from commands.context import Context, Services
from commands.kpi_data import KpiFileError, parse_kpi_csv
from commands.kpi_digest import build, chart, text
from commands.registry import command
from handlers.messages import Outbound
from store.events import NewEvent
from store.kpi import KpiProjection

PROJECTIONS = [KpiProjection()]
PERIODS = {"weekly": "weekly", "週次": "weekly", "monthly": "monthly", "月次": "monthly"}


# -- schedules -----------------------------------------------------------------------------------
def schedules(services: Services) -> list[dict[str, Any]]:
    settings = services.settings
    found: dict[str, dict[str, Any]] = {}
    if settings.kpi_channel:
        from handlers.destinations import resolve

        platform, room = resolve(settings, "CHONAI_KPI_CHANNEL", settings.kpi_channel)
        found["default"] = {"id": "default", "period": "weekly", "platform": platform,
                            "room": room, "cron": settings.kpi_cron}
    for event in services.store.iter_all(types=["kpi.schedule_added", "kpi.schedule_removed"]):
        if event.type == "kpi.schedule_added":
            found[event.payload["id"]] = event.payload
        else:
            found.pop(event.payload["id"], None)
    return list(found.values())


def trigger(schedule: dict[str, Any], tz: str):
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger.from_crontab(schedule["cron"], timezone=ZoneInfo(tz))


def business_day(moment: datetime) -> datetime:
    """The same time on the next day that is neither a weekend nor a public holiday."""
    import jpholiday

    while moment.weekday() >= 5 or jpholiday.is_holiday(moment.date()):
        moment += timedelta(days=1)
    return moment


def last_due(schedule: dict[str, Any], now: datetime, tz: str) -> datetime | None:
    """The latest firing (moved off holidays) at or before `now`, looking back 40 days."""
    cron = trigger(schedule, tz)
    moment = now.astimezone(ZoneInfo(tz)) - timedelta(days=40)
    latest = None
    while True:
        fire = cron.get_next_fire_time(None, moment)
        if fire is None or fire > now:
            break
        effective = business_day(fire)
        if effective <= now:
            latest = effective
        moment = fire + timedelta(seconds=1)
    return latest


async def run_due(services: Services) -> int:
    """Post every digest that is due and not yet posted; returns how many were posted now."""
    tz = services.settings.tz
    now = services.clock()
    posted = 0
    for schedule in await asyncio.to_thread(schedules, services):
        due = last_due(schedule, now, tz)
        if due is not None and await post_digest(services, schedule, due):
            posted += 1
    return posted


async def post_digest(services: Services, schedule: dict[str, Any], due: datetime) -> bool:
    store = services.store
    engine = services.get("engine")
    if services.get("catch_up"):
        await services.get("catch_up")()
    digest = await asyncio.to_thread(build, store, engine, schedule["period"], due,
                                     services.settings.tz, schedule.get("department"))
    key = f"kpi:{schedule['id']}:{digest['label']}"
    if await asyncio.to_thread(store.by_key, key):
        return False
    image = await asyncio.to_thread(_chart_blob, engine, digest)
    out = Outbound(schedule.get("platform", "local"), schedule["room"], text(digest), image=image)
    attempt = uuid.uuid4().hex  # tells our own append from another instance's
    recorded = await store.append(
        NewEvent("kpi.digest_posted", f"kpi:{schedule['id']}",
                 {"schedule": schedule["id"], "label": digest["label"], "due": due.isoformat()},
                 causation_id=attempt, idempotency_key=key),
        NewEvent("outbound.requested", f"outbox:{out.platform}:{out.room}", out.to_payload(),
                 platform=out.platform, idempotency_key=key + ":post"))
    return recorded[0].causation_id == attempt


def _chart_blob(engine, digest: dict[str, Any]) -> str:
    from store.blobs import put_blob

    return put_blob(engine, chart(digest))


async def background(services: Services) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler(timezone=ZoneInfo(services.settings.tz))
    scheduler.start()
    try:
        known: list[dict[str, Any]] | None = None
        while True:
            current = await asyncio.to_thread(schedules, services)
            if current != known:  # schedules are data: rebuild the jobs when they change
                scheduler.remove_all_jobs()
                for item in current:
                    scheduler.add_job(run_due, trigger(item, services.settings.tz), args=[services],
                                      id=f"kpi:{item['id']}", misfire_grace_time=3600, coalesce=True)
                known = current
            await run_due(services)  # catches up a run missed while the bot was down
            await asyncio.sleep(60)
    finally:
        scheduler.shutdown(wait=False)


# -- chat ------------------------------------------------------------------------------------------
@command("kpi", order=50)
async def kpi(ctx: Context) -> None:
    """DX の KPI（オンライン手続数・電子決裁率など）とボットの利用状況のまとめを表示します。
    /kpi weekly|monthly [部署]　／ /kpi schedule [add weekly ルーム [cron] | remove ID]"""
    words = ctx.args.split()
    if words and words[0] == "schedule":
        await _schedule(ctx, words[1:])
        return
    period = PERIODS.get(words[0] if words else "weekly")
    if period is None:
        ctx.reply("使い方: /kpi weekly [部署] または /kpi monthly [部署]", private=True)
        return
    department = words[1] if len(words) > 1 else None
    services = ctx.services
    digest = await asyncio.to_thread(build, services.store, services.get("engine"), period,
                                     services.clock(), services.settings.tz, department)
    image = await asyncio.to_thread(_chart_blob, services.get("engine"), digest)
    ctx.reply(text(digest), image=image)


async def _schedule(ctx: Context, words: list[str]) -> None:
    services = ctx.services
    current = await asyncio.to_thread(schedules, services)
    if not words:
        if not current:
            ctx.reply("定期配信はありません。/kpi schedule add weekly ルーム名 で追加できます。", private=True)
            return
        lines = ["KPI の定期配信:"]
        for item in current:
            nxt = trigger(item, services.settings.tz).get_next_fire_time(None, services.clock())
            lines.append(f"・{item['id']}: {item['period']} → {item['room']}（{item['cron']}、"
                         f"次回 {business_day(nxt).strftime('%Y-%m-%d %H:%M') if nxt else '—'}）")
        ctx.reply("\n".join(lines), private=True)
        return
    if words[0] == "add" and len(words) >= 3 and words[1] in PERIODS:
        period = PERIODS[words[1]]
        cron = " ".join(words[3:]) or ("0 9 * * mon" if period == "weekly" else "0 9 1 * *")
        try:
            trigger({"cron": cron}, services.settings.tz)
        except ValueError:
            ctx.reply("cron の書き方が正しくありません（例: 0 9 * * mon）。", private=True)
            return
        sid = f"s{ctx.event.position}"
        ctx.emit("kpi.schedule_added", {"id": sid, "period": period, "platform": ctx.platform,
                                        "room": words[2], "cron": cron}, f"kpi:schedule:{sid}")
        ctx.reply(f"定期配信 {sid} を追加しました（{period}、{words[2]}、{cron}）。", private=True)
    elif words[0] == "remove" and len(words) == 2 and any(s["id"] == words[1] for s in current):
        ctx.emit("kpi.schedule_removed", {"id": words[1]}, f"kpi:schedule:{words[1]}")
        ctx.reply(f"定期配信 {words[1]} を削除しました。", private=True)
    else:
        ctx.reply("使い方: /kpi schedule ／ /kpi schedule add weekly ルーム名 [cron] ／ "
                  "/kpi schedule remove ID", private=True)


# -- command line -----------------------------------------------------------------------------------
async def import_file(engine, rows: list[dict[str, Any]], digest_key: str) -> bool:
    from store.events import EventStore
    from store.projections import catch_up

    store = EventStore(engine)
    await store.start()
    await store.append(NewEvent("kpi.imported", "kpi:values", {"rows": rows},
                                          actor="cli", idempotency_key=f"kpi.import:{digest_key}"))
    fresh = store.appended_total > 0
    await store.stop()
    await asyncio.to_thread(catch_up, engine, KpiProjection())
    return fresh


def add_cli(sub: Any, add: Any) -> None:
    from commands.cli_support import engine_for as _engine, read_input, refused

    group = sub.add_parser("kpi", help="DX の KPI の取り込みとまとめ", description="DX の KPI の取り込みとまとめ")
    actions = group.add_subparsers(dest="kpi_command", metavar="操作")

    def cmd_import(args, settings) -> int:
        data = read_input(args.file)
        if data is None:
            return 2
        try:
            rows = parse_kpi_csv(data)
        except KpiFileError as exc:
            return refused(exc.errors, "KPI を取り込めませんでした")
        fresh = asyncio.run(import_file(_engine(settings), rows,
                                        hashlib.sha256(json.dumps(rows, sort_keys=True).encode())
                                        .hexdigest()[:32]))
        print(f"{len(rows)} 件の値を取り込みました。" if fresh else "同じ内容はすでに取り込まれています。")
        return 0

    def cmd_digest(args, settings) -> int:
        from store.events import EventStore
        from store.projections import catch_up

        engine = _engine(settings)
        catch_up(engine, KpiProjection())
        moment = datetime.now(ZoneInfo(settings.tz))
        if args.at:
            moment = datetime.fromisoformat(args.at)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=ZoneInfo(settings.tz))
        digest = build(EventStore(engine), engine, args.period, moment, settings.tz, args.department)
        if args.chart:
            Path(args.chart).write_bytes(chart(digest))
        print(json.dumps(digest, ensure_ascii=False) if args.json else text(digest))
        return 0

    p = add("import", cmd_import, "KPI の値を CSV か Excel（.xlsx）から取り込む。列: metric（指標）, period（期間: 2026-11 / 2026-W47 / FY2026）, value（値、% 可）, target（目標）, 任意で direction（up/down）, department（部署）。例の行: オンライン手続数,2026-11,1250,1500",
            parent=actions)
    p.add_argument("file", metavar="ファイル", help="取り込むファイル（.csv か .xlsx）")
    p = add("digest", cmd_digest, "直近の 1 週間か 1 か月のまとめを表示", parent=actions)
    p.add_argument("--period", choices=["weekly", "monthly"], default="weekly")
    p.add_argument("--department")
    p.add_argument("--json", action="store_true")
    p.add_argument("--at", help="この時刻として計算（例: 2026-12-01T09:00+09:00）")
    p.add_argument("--chart", help="グラフの PNG もここに書き出す")
