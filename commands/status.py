"""/status: an application's status by 受付番号, or whether a procedure can be done online;
`chonai status import` and `chonai procedures import`; every look-up is recorded."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from commands.context import Context, Services
from commands.registry import command
from commands.tables import TableError, read_table, yes_no
from store import applications as table
from store.applications import ApplicationsProjection
from store.staff import find_person

PROJECTIONS = [ApplicationsProjection()]
STATUS_COLUMNS = ("receipt_no", "procedure", "status", "updated_at")
PROCEDURE_COLUMNS = ("procedure", "online", "channel", "url", "notes")
ALIASES = {"受付番号": "receipt_no", "申請番号": "receipt_no", "手続き": "procedure", "手続": "procedure",
           "手続き名": "procedure", "手続名": "procedure", "状況": "status", "状態": "status",
           "ステータス": "status", "更新日時": "updated_at", "更新日": "updated_at",
           "オンライン": "online", "オンライン可否": "online", "オンライン申請": "online",
           "方法": "channel", "申請方法": "channel", "窓口": "channel", "URL": "url", "url": "url",
           "リンク": "url", "備考": "notes", "メモ": "notes"}
PERSONAL_COLUMNS = re.compile(r"(氏名|名前|住所|電話|携帯|メール|生年月日|マイナンバー|個人番号|"
                              r"name|address|phone|tel|mail|birth)", re.I)
RECEIPT = re.compile(r"^[A-Za-z]{0,3}\d{0,2}[-_]?\d{3,}[-\dA-Za-z]*$")


class ImportError_(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def _rows(data: bytes, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        header, rows = read_table(data, (), ALIASES)
        personal = [h for h in header if PERSONAL_COLUMNS.search(h)]
        if personal:
            raise ImportError_([f"1行目: 個人情報の列（{', '.join(personal)}）は取り込めません。"
                                "申請状況には受付番号・手続き・状況・更新日時だけを含めてください。"])
        missing = [c for c in required if c not in header]
        if missing:
            raise ImportError_([f"1行目: 列がありません: {', '.join(missing)}"
                                f"（必要な列: {','.join(required)}）"])
    except TableError as exc:
        raise ImportError_(exc.errors) from None
    return rows


def parse_statuses(data: bytes) -> list[dict[str, str]]:
    errors, rows = [], []
    for line, row in _rows(data, STATUS_COLUMNS):
        problems = [f"{c} が空です" for c in STATUS_COLUMNS if not row.get(c)]
        if row.get("updated_at"):
            try:
                moment = datetime.fromisoformat(row["updated_at"])
                if moment.tzinfo is None:
                    problems.append("updated_at に時差（+09:00 など）がありません")
            except ValueError:
                problems.append("updated_at が ISO 形式の日時ではありません")
        if problems:
            errors.append(f"{line}行目: " + "、".join(problems))
        else:
            rows.append({c: row[c] for c in STATUS_COLUMNS})
    if errors:
        raise ImportError_(errors)
    if not rows:
        raise ImportError_(["データの行がありません。"])
    return rows


def reading(name: str) -> str:
    from handlers.japanese import tokenizer

    katakana = "".join(m.reading_form() for m in tokenizer().tokenize(name))
    return hiragana(katakana)


def hiragana(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return "".join(chr(ord(c) - 0x60) if "\u30a1" <= c <= "\u30f6" else c for c in text)


def parse_procedures(data: bytes) -> list[dict[str, Any]]:
    errors, rows = [], []
    for line, row in _rows(data, PROCEDURE_COLUMNS):
        online = yes_no(row.get("online", ""))
        if not row.get("procedure"):
            errors.append(f"{line}行目: procedure が空です")
        elif online is None:
            errors.append(f"{line}行目: online は はい／いいえ（yes／no、○／×）で書いてください")
        else:
            rows.append({"procedure": row["procedure"], "reading": reading(row["procedure"]),
                         "online": online,
                         "channel": row.get("channel", ""), "url": row.get("url", ""),
                         "notes": row.get("notes", "")})
    if errors:
        raise ImportError_(errors)
    if not rows:
        raise ImportError_(["手続きの行がありません。"])
    return rows


def retention_days(settings) -> float:
    """CHONAI_STATUS_RETENTION_DAYS (default 365): how long application statuses stay readable."""
    try:
        return max(1.0, float(settings.get("chonai_status_retention_days", "365")))
    except ValueError:
        return 365.0


def status_events(rows: list[dict[str, str]], actor: str, *, engine, settings, now: float | None = None
                  ) -> list:
    """One event per status change, sealed with the key of the day it expires: when the key is
    shredded at the end of the retention, every copy in the log is unreadable. The stream and
    the idempotency key are keyed by the same key, so no receipt number stays readable."""
    import hashlib
    import hmac
    import json
    import time
    from datetime import UTC, datetime, timedelta

    from store import sealed as sealing
    from store.events import NewEvent

    now = now if now is not None else time.time()
    expiry_day = (datetime.fromtimestamp(now, UTC) + timedelta(days=retention_days(settings))).date()
    expires_at = datetime.combine(expiry_day + timedelta(days=1), datetime.min.time(), UTC).timestamp()
    key_id = f"status:{expiry_day.isoformat()}"
    key = sealing.bucket_key(engine, key_id, expires_at)
    events = []
    for r in rows:
        ident = hmac.new(key, f"{r['receipt_no']}|{r['updated_at']}|{r['status']}".encode(),
                         hashlib.sha256).hexdigest()[:32]
        events.append(NewEvent(
            "status.changed", f"application:{ident[:16]}",
            {"sealed": sealing.seal_with(key_id, key, json.dumps(r, ensure_ascii=False)),
             "expires_at": expires_at}, actor=actor, idempotency_key=f"status:{ident}"))
    return events


async def background(services: Services) -> None:
    """Application statuses past their retention: rows dropped (their keys are shredded with
    every other expired key)."""
    from store import sealed as sealing

    engine = services.get("engine")
    while True:
        now = services.clock().timestamp()
        await asyncio.to_thread(sealing.shred_expired, engine, now)
        await asyncio.to_thread(table.forget_expired, engine, now)
        await asyncio.sleep(300)


def find_procedure(engine, query: str) -> list[dict]:
    wanted = unicodedata.normalize("NFKC", query).strip()
    sound = hiragana(wanted)
    ranked = []
    for item in table.catalogue(engine):
        name = unicodedata.normalize("NFKC", item["procedure"])
        if wanted == name:
            rank = 0
        elif name.startswith(wanted) or wanted.startswith(name):
            rank = 1
        elif wanted in name:
            rank = 2
        elif len(sound) >= 2 and sound in item["reading"]:
            rank = 3
        else:
            continue
        ranked.append((rank, len(name), item))
    return [item for _, _, item in sorted(ranked, key=lambda r: (r[0], r[1]))]


def _jst(ctx: Context, value: str) -> str:
    return datetime.fromisoformat(value).astimezone(ZoneInfo(ctx.services.settings.tz)) \
        .strftime("%Y年%m月%d日 %H:%M")


@command("status", order=40)
async def status(ctx: Context) -> None:
    """受付番号で申請の状況を、手続き名でオンライン手続きの可否を調べます（職員向け）。
    /status 受付番号　または　/status 手続き名　例: /status R7-000123 ／ /status 転入届"""
    engine = ctx.services.get("engine")
    query = unicodedata.normalize("NFKC", ctx.args).strip()
    if not query:
        ctx.reply("受付番号か手続き名を書いてください。例: /status R7-000123", private=True)
        return
    if await asyncio.to_thread(find_person, engine, ctx.identity_platform, ctx.user) is None:
        ctx.reply("申請状況の確認は、職員名簿に登録された職員だけが使えます。", private=True)
        ctx.emit("status.refused", {"user": ctx.user}, f"lookup:{ctx.user}")
        return
    if RECEIPT.match(query):
        rows = await asyncio.to_thread(table.history, engine, query)
        ctx.emit("status.looked_up", {"user": ctx.user, "receipt_no": query, "found": bool(rows)},
                 f"lookup:{ctx.user}")
        if not rows:
            ctx.reply(f"受付番号 {query} は見つかりません。番号を確かめるか、手続き名で調べてください"
                      "（例: /status 転入届）。", private=True)
            return
        current = rows[-1]
        lines = [f"受付番号 {query}（{current['procedure']}）",
                 f"現在の状況: {current['status']}（{_jst(ctx, current['updated_at'])} 更新）", "経過:"]
        lines += [f"・{_jst(ctx, r['updated_at'])} {r['status']}" for r in rows]
        ctx.reply("\n".join(lines), private=True)
        return
    found = await asyncio.to_thread(find_procedure, engine, query)
    ctx.emit("status.looked_up", {"user": ctx.user, "procedure": query, "found": bool(found)},
             f"lookup:{ctx.user}")
    if not found:
        ctx.reply(f"「{query}」に当たる手続きは見つかりません。受付番号なら R7-000123 のように書いてください。",
                  private=True)
        return
    item = found[0]
    how = (f"オンラインでできます（{item['channel']}）。" if item["online"]
           else f"オンラインではできません（{item['channel'] or '窓口'}）。")
    text = f"{item['procedure']}: {how}"
    if item["url"]:
        text += f"\n{item['url']}"
    if item["notes"]:
        text += f"\n{item['notes']}"
    if len(found) > 1:
        text += "\nほかの候補: " + "、".join(i["procedure"] for i in found[1:4])
    ctx.reply(text, private=True)


async def _append(engine, events) -> int:
    from store.events import EventStore
    from store.projections import catch_up

    store = EventStore(engine)
    await store.start()
    before = store.head()[0]
    await store.append(*events)
    after = store.head()[0]
    await store.stop()
    await asyncio.to_thread(catch_up, engine, ApplicationsProjection())
    return after - before


def add_cli(sub: Any, add: Any) -> None:
    from commands.cli_support import engine_for as _engine, read_input, refused

    def importer(parse, make_events, done):
        def run(args, settings) -> int:
            data = read_input(args.file)
            if data is None:
                return 2
            try:
                rows = parse(data)
            except ImportError_ as exc:
                return refused(exc.errors)
            engine = _engine(settings)
            added = asyncio.run(_append(engine, make_events(rows, settings, engine)))
            print(done(rows, added))
            return 0
        return run

    group = sub.add_parser("status", help="申請の状況（/status 受付番号）", description="申請の状況（/status 受付番号）")
    actions = group.add_subparsers(dest="status_command", metavar="操作")
    p = add("import", importer(parse_statuses,
                               lambda rows, settings, engine: status_events(rows, "cli", engine=engine,
                                                                            settings=settings),
                               lambda rows, n: f"{len(rows)} 行を確認し、{n} 件の状況変更を記録しました。"),
            "申請の状況を CSV か Excel から取り込む。列: receipt_no（受付番号）, procedure（手続き）, status（状況）, updated_at（更新日時、時差つき ISO 形式）。個人情報の列は拒否します。例の行: R7-000123,児童手当,審査中,2026-11-10T15:30:00+09:00", parent=actions)
    p.add_argument("file", metavar="ファイル", help="取り込むファイル（.csv か .xlsx）")
    group = sub.add_parser("procedures", help="手続きの一覧（/status 手続き名）", description="手続きの一覧（/status 手続き名）")
    actions = group.add_subparsers(dest="procedures_command", metavar="操作")

    def catalogue_event(rows, settings=None, engine=None):
        from store.events import NewEvent

        return [NewEvent("procedures.imported", "procedures:catalogue", {"rows": rows}, actor="cli")]

    p = add("import", importer(parse_procedures, catalogue_event,
                               lambda rows, n: f"手続き一覧を {len(rows)} 件で置き換えました。"),
            "手続きの一覧を CSV か Excel で丸ごと置き換える。列: procedure（手続き）, online（オンライン可否: はい/いいえ・○/×・yes/no）, channel（方法）, url, notes（備考）。例の行: 転入届,いいえ,窓口,,引っ越しから14日以内", parent=actions)
    p.add_argument("file", metavar="ファイル", help="取り込むファイル（.csv か .xlsx）")
