"""`chonai staff import FILE.csv`: the staff directory, replaced as a whole by one event."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from commands.tables import TableError, read_table
from store.staff import StaffProjection

PROJECTIONS = [StaffProjection()]
REQUIRED = ("user_id", "name", "department", "roles")
ALIASES = {"職員ID": "user_id", "職員番号": "user_id", "ユーザーID": "user_id", "利用者ID": "user_id",
           "氏名": "name", "名前": "name", "所属": "department", "部署": "department",
           "所属部署": "department", "課": "department", "役割": "roles", "権限": "roles",
           "ロール": "roles", "プラットフォームID": "platform_ids", "連携ID": "platform_ids"}
_ID = re.compile(r"^[A-Za-z0-9_.@:-]{1,200}$")
_PLATFORMS = ("slack", "lineworks", "webhook", "logochat", "local")


class DirectoryError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def parse_directory(data: bytes) -> list[dict[str, Any]]:
    """Every row of the CSV, or every problem with line numbers (nothing partial)."""
    try:
        _, table = read_table(data, REQUIRED, ALIASES)
    except TableError as exc:
        raise DirectoryError(exc.errors) from None
    errors: list[str] = []
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for line, row in table:
        user_id, name, department = row.get("user_id", ""), row.get("name", ""), row.get("department", "")
        problems = []
        if not _ID.match(user_id):
            problems.append("user_id が空か、使えない文字があります")
        if not name:
            problems.append("name が空です")
        if not department:
            problems.append("department が空です")
        if user_id in seen:
            problems.append(f"user_id「{user_id}」が {seen[user_id]} 行目と重複しています")
        platform_ids: dict[str, str] = {}
        for item in filter(None, (p.strip() for p in row.get("platform_ids", "").split(";"))):
            platform, _, value = item.partition(":")
            if platform not in _PLATFORMS or not value:
                problems.append(f"platform_ids の「{item}」は 種類:ID の形で書いてください")
            else:
                platform_ids[platform] = value
        if problems:
            errors.append(f"{line}行目: " + "、".join(problems))
            continue
        seen[user_id] = line
        rows.append({"user_id": user_id, "name": name, "department": department,
                     "roles": [r.strip() for r in row.get("roles", "").split(";") if r.strip()],
                     "platform_ids": platform_ids})
    if errors:
        raise DirectoryError(errors)
    if not rows:
        raise DirectoryError(["職員の行がありません。"])
    return rows


async def replace_directory(engine, rows: list[dict[str, Any]], actor: str = "cli",
                            expected_version: int | None = None) -> None:
    """Record the new directory; with `expected_version`, only if nobody changed it since
    (raises store.events.ConcurrencyError otherwise)."""
    from store.events import EventStore, NewEvent
    from store.projections import catch_up

    store = EventStore(engine)
    await store.start()
    try:
        await store.append(NewEvent("staff.directory_replaced", "staff:directory",
                                    {"staff": rows, "count": len(rows)}, actor=actor,
                                    expected_version=expected_version))
    finally:
        await store.stop()
    await asyncio.to_thread(catch_up, engine, StaffProjection())


def add_cli(sub: Any, add: Any) -> Any:
    """`chonai staff import`; returns the staff subcommands, to which bot/cli.py adds the
    platform-bound ones (token, revoke, sync)."""
    from commands.cli_support import engine_for as _engine, read_input, refused

    staff = sub.add_parser("staff", help="職員名簿（部署・役割・各プラットフォームの ID）", description="職員名簿（部署・役割・各プラットフォームの ID）")
    staff_sub = staff.add_subparsers(dest="staff_command", metavar="操作")

    def cmd_import(args, settings) -> int:
        data = read_input(args.file)
        if data is None:
            return 2
        try:
            rows = parse_directory(data)
        except DirectoryError as exc:
            return refused(exc.errors, "職員名簿を取り込めませんでした")
        asyncio.run(replace_directory(_engine(settings), rows))
        print(f"職員名簿を {len(rows)} 人で置き換えました。")
        return 0

    p = add("import", cmd_import, "職員名簿を CSV か Excel（.xlsx）で丸ごと置き換える。列: user_id（職員ID）, name（氏名）, department（所属）, roles（役割、; 区切り。broadcaster = 一斉連絡を送れる）, 任意で platform_ids（slack:U012;lineworks:abc;logochat:u1）。日本語の見出し（職員ID,氏名,所属,役割）と Shift_JIS の CSV も読めます。例の行: bousai01,防災 太郎,危機管理課,broadcaster,slack:U012",
            parent=staff_sub)
    p.add_argument("file", metavar="ファイル", help="取り込むファイル（.csv か .xlsx）")
    return staff_sub


async def background(services) -> None:
    """Keep the PII guard's gazetteer in step with the directory (staff names are PII too),
    and read Slack's users.list once a day when Slack is configured."""
    seen = -1
    while True:
        version = await asyncio.to_thread(services.store.stream_version, "staff:directory")
        guard = services.get("guard")
        if version != seen and guard is not None:
            from handlers.pii import Guard
            from store.staff import names

            staff_names = await asyncio.to_thread(names, services.get("engine"))
            services.features["guard"] = Guard(names=staff_names, allow=guard.allow_words)
            seen = version
        if services.settings.slack_bot_token and sync_due(services):
            await daily_slack_sync(services)
        await asyncio.sleep(30)


def sync_due(services) -> bool:
    """Past the daily sync time (CHONAI_SLACK_SYNC_AT, default 03:00 local; "off" disables)."""
    from zoneinfo import ZoneInfo

    at = services.settings.get("chonai_slack_sync_at", "03:00")
    if at == "off" or not re.fullmatch(r"\d{1,2}:\d{2}", at):
        return False
    hour, minute = (int(x) for x in at.split(":"))
    now = services.clock().astimezone(ZoneInfo(services.settings.tz))
    return (now.hour, now.minute) >= (hour, minute)


async def daily_slack_sync(services) -> bool:
    """One users.list sync per day across all instances (a lease decides who runs it)."""
    from zoneinfo import ZoneInfo

    from store import leases

    zone = ZoneInfo(services.settings.tz)
    today = services.clock().astimezone(zone).date()
    synced = [e for e in await asyncio.to_thread(services.store.read, 0,
                                                 types=["staff.directory_replaced"],
                                                 stream_id="staff:directory", limit=10**6)
              if e.actor == "slack-sync"]
    if synced and synced[-1].time.astimezone(zone).date() == today:
        return False
    engine = services.get("engine")
    if not await asyncio.to_thread(leases.acquire, engine, f"staff-sync:{today}",
                                   f"{services.get('owner')}:{uuid.uuid4().hex}", 3600):
        return False
    sync_staff = services.get("staff_sync")  # offered by the Slack adapter when configured
    if sync_staff is None:
        return False
    try:
        await sync_staff(services.settings, engine)
    except Exception as exc:  # Slack unreachable: the directory stays, tomorrow tries again
        import logging

        logging.getLogger(__name__).warning("daily Slack sync failed: %s", type(exc).__name__)
        return False
    return True
