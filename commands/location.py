"""/here and /where: 今ココ location sharing during incidents. Positions are personal data:
stored only sealed (encrypted with a key of their own) and unreadable after the retention."""

from __future__ import annotations

import asyncio
import math
import re
import unicodedata
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from commands.context import Context, Services
from commands.registry import command
from handlers.messages import Outbound
from store import locations as table
from store import sealed as sealing
from store.locations import LocationProjection
from store.staff import find_person, has_role

PROJECTIONS = [LocationProjection()]
WINDOW_HOURS = 12
_DECIMAL = re.compile(r"^\s*([+-]?\d{1,3}(?:\.\d+)?)\s*[,，、\s]\s*([+-]?\d{1,3}(?:\.\d+)?)(?:\s+(.*))?$", re.S)
_DMS = re.compile(r"(\d{1,3})\s*[°度]\s*(\d{1,2})\s*['′分]\s*(\d{1,2}(?:\.\d+)?)\s*(?:[\"″]|秒)?\s*([NSEW北南東西])")


class PositionError(ValueError):
    """A position that cannot be right; the message is for staff."""


def retention_seconds(services: Services) -> float:
    hours = services.settings.get("chonai_location_retention_hours", "72")
    try:
        return max(0.01, float(hours)) * 3600
    except ValueError:
        return 72 * 3600.0


def configure(services: Services) -> None:
    engine = services.get("engine")
    ttl = retention_seconds(services)
    services.features["seal"] = lambda text: sealing.seal(engine, text, ttl)


def parse_position(text: str) -> tuple[float, float, str]:
    """(lat, lon, memo) from decimal degrees or 度分秒."""
    text = unicodedata.normalize("NFKC", text).strip()
    dms = list(_DMS.finditer(text))
    if len(dms) >= 2:
        values = {}
        for m in dms[:2]:
            degrees = float(m.group(1)) + float(m.group(2)) / 60 + float(m.group(3)) / 3600
            hemisphere = m.group(4)
            sign = -1 if hemisphere in "SW南西" else 1
            values["lat" if hemisphere in "NS北南" else "lon"] = sign * degrees
        if len(values) != 2:
            raise PositionError("度分秒は 北緯と東経の両方を書いてください。")
        lat, lon, memo = values["lat"], values["lon"], text[dms[1].end():].strip()
    else:
        match = _DECIMAL.match(text)
        if not match:
            raise PositionError("位置は「/here 緯度,経度 メモ」の形で書いてください（例: /here 35.6812,139.7671 本庁舎前）。")
        lat, lon, memo = float(match.group(1)), float(match.group(2)), (match.group(3) or "").strip()
    if not (math.isfinite(lat) and math.isfinite(lon)) or abs(lat) > 90 or abs(lon) > 180:
        raise PositionError(f"緯度 {lat}・経度 {lon} はありえない位置です（緯度は ±90、経度は ±180 以内）。"
                            "緯度と経度の順番も確かめてください。")
    return round(lat, 6), round(lon, 6), memo[:200]


def outside_japan(lat: float, lon: float) -> bool:
    return not (20.0 <= lat <= 46.5 and 122.0 <= lon <= 154.5)


def links(lat: float, lon: float) -> str:
    return (f"地理院地図: https://maps.gsi.go.jp/#16/{lat}/{lon}/\n"
            f"Google マップ: https://www.google.com/maps?q={lat},{lon}")


def _jst(ctx: Context, moment: float) -> str:
    zone = ZoneInfo(ctx.services.settings.tz)
    return datetime.fromtimestamp(moment, zone).strftime("%m/%d %H:%M")


@command("here", order=30, sealed=True)
async def here(ctx: Context) -> None:
    """今いる場所（今ココ）を地図リンク付きでルームに共有します。
    /here 緯度,経度 [メモ]　例: /here 35.6812,139.7671 本庁舎前"""
    engine = ctx.services.get("engine")
    sealed_text = ctx.event.payload.get("sealed")
    text = await asyncio.to_thread(sealing.unseal, engine, sealed_text) if sealed_text else ctx.args
    try:
        lat, lon, memo = parse_position(text or "")
    except PositionError as exc:
        if sealed_text:  # refused: the sealed request becomes unreadable at once
            await asyncio.to_thread(_shred, engine, sealed_text["key_id"])
        ctx.reply(str(exc), private=True)
        return
    person = await asyncio.to_thread(find_person, engine, ctx.identity_platform, ctx.user)
    ttl = retention_seconds(ctx.services)
    now = ctx.event.time.timestamp()
    position = await asyncio.to_thread(sealing.seal, engine,
                                       f'{{"lat": {lat}, "lon": {lon}, "memo": {_json(memo)}}}', ttl)
    warning = "\n※日本国外の位置です。緯度・経度の順番を確認してください。" if outside_japan(lat, lon) else ""
    card = (f"📍今ココ: {person.name if person else ctx.user}（{_jst(ctx, now)}）\n"
            f"{memo + chr(10) if memo else ''}{links(lat, lon)}{warning}")
    ctx.emit("location.shared", {"user": ctx.user, "room": ctx.room,
                                 "department": person.department if person else "",
                                 "sealed": position, "expires_at": now + ttl},
             f"location:{ctx.platform}:{ctx.user}")
    sealed_card = await asyncio.to_thread(sealing.seal, engine, card, ttl)
    ctx.send(Outbound(platform=ctx.platform, room=ctx.room, text="", thread=ctx.incoming.thread,
                      ref=f"here:{ctx.event.position}", sealed=sealed_card, reply=ctx.incoming.reply))


def _json(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def _shred(engine, key_id: str) -> None:
    from store.db import write_transaction

    with write_transaction(engine) as conn:
        conn.execute(sealing.keys.delete().where(sealing.keys.c.key_id == key_id))


@command("where", order=31)
async def where(ctx: Context) -> None:
    """共有された職員の最新の位置を一覧します（調整担当は全員分、ほかの人は同じルームの分）。
    /where [部署名|ルーム名]"""
    import json

    engine = ctx.services.get("engine")
    person = await asyncio.to_thread(find_person, engine, ctx.identity_platform, ctx.user)
    coordinator = has_role(person, "coordinator", "broadcaster")
    now = ctx.services.clock().timestamp()
    rows = await asyncio.to_thread(table.recent, engine, now - WINDOW_HOURS * 3600, now)
    scope = ctx.args.strip()
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:  # newest first: the first row per person is their last known position
        if not coordinator and row["room"] != ctx.room:
            continue
        if coordinator and scope and scope not in (row["department"], row["room"]):
            continue
        latest.setdefault(row["user"], row)
    lines, expiry = [], now + retention_seconds(ctx.services)
    for row in latest.values():
        opened = await asyncio.to_thread(sealing.unseal, engine, row["sealed"], now)
        if opened is None:
            continue
        data = json.loads(opened)
        expiry = min(expiry, row["expires_at"])
        lines.append(f"・{row['user']}（{row['department'] or '部署未登録'}）{_jst(ctx, row['shared_at'])}"
                     f" {data['memo']}\n  https://maps.gsi.go.jp/#16/{data['lat']}/{data['lon']}/")
    if not lines:
        ctx.reply(f"直近 {WINDOW_HOURS} 時間に共有された位置はありません。", private=True)
        return
    header = "直近の位置（新しい順）" + ("" if coordinator else "：このルームで共有された分だけを表示しています")
    text = header + "\n" + "\n".join(lines)
    sealed_text = await asyncio.to_thread(sealing.seal, engine, text, max(1.0, expiry - now))
    ctx.send(Outbound(platform=ctx.platform, room=ctx.room, text="", private_to=ctx.user,
                      ref=f"here:where:{ctx.event.position}", sealed=sealed_text,
                      reply=ctx.incoming.reply))


async def background(services: Services) -> None:
    while True:
        await shred_expired(services)
        await asyncio.sleep(60)


async def shred_expired(services: Services, now: float | None = None) -> int:
    """Destroy expired keys, drop expired rows and scrub the talk room's copies."""
    engine = services.get("engine")
    now = now or services.clock().timestamp()
    gone = await asyncio.to_thread(sealing.shred_expired, engine, now)
    await asyncio.to_thread(table.forget_expired, engine, now)
    if gone:
        await asyncio.to_thread(_scrub_room_copies, engine, now - retention_seconds(services))
    return len(gone)


def _scrub_room_copies(engine, older_than: float) -> None:
    from sqlalchemy import text

    from store.db import is_sqlite, write_transaction

    cutoff = datetime.fromtimestamp(older_than, ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.%f")
    with write_transaction(engine) as conn:
        # Cards older than the retention in the embedded talk room's own history.
        conn.execute(text("UPDATE room_messages SET text = :t WHERE ref LIKE 'here:%' "
                          "AND created_at <= :c AND text != :t"),
                     {"t": "（位置情報は保存期間を過ぎたため削除しました）", "c": cutoff + "Z"})
    if is_sqlite(engine):
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
