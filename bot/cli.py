"""The `chonai` command line."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Callable

from bot import config


def _engine(settings: config.Settings, migrate: bool = True):
    from commands.cli_support import engine_for

    return engine_for(settings, migrate)


def cmd_run(args: argparse.Namespace, settings: config.Settings) -> int:
    from aiohttp import web

    from bot import logs
    from bot.app import build_app

    from dataclasses import replace

    logs.setup()
    # The listen address decides whether the talk room needs sign-in: keep it in settings.
    settings = replace(settings, host=args.host or settings.host, port=args.port or settings.port)
    host, port = settings.host, settings.port
    print(f"chonai: http://{host}:{port}/ （Ctrl+C で停止）", file=sys.stderr)
    app = build_app(settings)
    # What start-up loaded (dictionaries, gazetteers, the registry) lives as long as the
    # process: keep it out of the cyclic collector, whose full passes over it stalled every
    # request in flight for tens of milliseconds.
    gc.collect()
    gc.freeze()
    web.run_app(app, host=host, port=port, print=None, shutdown_timeout=15, access_log=None)
    return 0


def cmd_migrate(args: argparse.Namespace, settings: config.Settings) -> int:
    from store.migrate import current

    engine = _engine(settings)
    print(f"schema at revision {current(engine)}")
    return 0


def cmd_events(args: argparse.Namespace, settings: config.Settings) -> int:
    from store.events import EventStore

    store = EventStore(_engine(settings))
    types = [args.type] if args.type else None
    shown = 0
    for event in store.iter_all(args.since, types=types):
        print(json.dumps(event.to_json(), ensure_ascii=False))
        shown += 1
        if args.limit and shown >= args.limit:
            break
    return 0


def cmd_replay(args: argparse.Namespace, settings: config.Settings) -> int:
    import time

    from bot.runtime import projections_for
    from commands.registry import build_registry
    from store.projections import ProjectionRunner

    engine = _engine(settings)
    runner = ProjectionRunner(engine, projections_for(build_registry()))
    started = time.perf_counter()
    for name, count in runner.rebuild_all().items():
        print(f"{name}: {count} events applied")
    print(f"replayed in {time.perf_counter() - started:.2f}s")
    return 0


def cmd_verify(args: argparse.Namespace, settings: config.Settings) -> int:
    from store.verify import verify

    verdict = verify(_engine(settings, migrate=False))
    if verdict.ok:
        print(f"ok: {verdict.checked} events, chain intact")
        return 0
    print(f"TAMPERED: first bad position {verdict.bad_position} ({verdict.reason}); "
          f"{verdict.checked} events before it are intact", file=sys.stderr)
    return 1


def cmd_pii_scan(args: argparse.Namespace, settings: config.Settings) -> int:
    from handlers.pii.cli import scan_stream

    scan_stream(sys.stdin, sys.stdout)
    return 0


Command = Callable[[argparse.Namespace, config.Settings], int]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="chonai", description="庁内ボット chonai-bot")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func: Command, help_text: str, parent=sub) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    run = add("run", cmd_run, "start the bot (talk room, platforms, workers)")
    run.add_argument("--port", type=int, help="HTTP port (default CHONAI_PORT or 8080)")
    run.add_argument("--host", help="listen address (default 127.0.0.1)")
    add("migrate", cmd_migrate, "apply database migrations (SQLite or DATABASE_URL)")
    events = add("events", cmd_events, "print events as JSON lines")
    events.add_argument("--type", help="only events of this type")
    events.add_argument("--since", type=int, default=0, help="only after this position")
    events.add_argument("--limit", type=int, default=0, help="at most this many")
    add("replay", cmd_replay, "rebuild every projection from position 0")
    add("verify", cmd_verify, "check the hash chain: exit 1 naming the first bad position")
    pii = sub.add_parser("pii", help="personal-information guard tools")
    pii_sub = pii.add_subparsers(dest="pii_command", metavar="ACTION")
    add("scan", cmd_pii_scan, "JSON lines {id,text} on stdin → {id,spans} on stdout",
        parent=pii_sub)
    added = {extend.__module__: extend(sub, add) for extend in _extensions()}
    add_staff_platform_commands(added["commands.staff"], add)
    return top


def add_staff_platform_commands(staff_sub, add) -> None:  # noqa: ANN001
    """`chonai staff token|revoke|sync`: sign-in for the talk room and Slack's users.list."""
    p = add("token", cmd_staff_token, "print a one-time talk-room sign-in link for USER "
            "(staff in the directory only)", parent=staff_sub)
    p.add_argument("user")
    p.add_argument("--base-url", help="the address staff open (default http://HOST:PORT)")
    p = add("revoke", cmd_staff_revoke, "end every talk-room session of USER issued so far",
            parent=staff_sub)
    p.add_argument("user")
    add("sync", cmd_staff_sync, "update the directory from Slack's users.list (departments and "
        "roles from the CSV are kept)", parent=staff_sub)


def cmd_staff_token(args: argparse.Namespace, settings: config.Settings) -> int:
    from bot import signin
    from store.staff import find_person

    engine = _engine(settings)
    if find_person(engine, "local", args.user) is None:
        print(f"「{args.user}」は職員名簿にいません。先に chonai staff import で登録してください。",
              file=sys.stderr)
        return 1
    base = (args.base_url or f"http://{settings.host}:{settings.port}").rstrip("/")
    print(f"{base}/signin?code={signin.one_time_code(settings, args.user)}")
    print(f"（このリンクは {signin.CODE_SECONDS // 60} 分以内に一度だけ使えます。開くとサインインし、"
          f"{signin.session_days(settings):g} 日間有効です）", file=sys.stderr)
    if not signin.required(settings):
        print("（127.0.0.1 で待ち受けている間はサインイン不要です）", file=sys.stderr)
    return 0


def cmd_staff_revoke(args: argparse.Namespace, settings: config.Settings) -> int:
    import asyncio
    import time

    from bot import signin
    from store.events import EventStore, NewEvent

    async def revoke() -> None:
        store = EventStore(_engine(settings))
        await store.start()
        try:
            await store.append(NewEvent("signin.revoked", signin.revocation_stream(args.user),
                                        {"user": args.user, "before": int(time.time())},
                                        actor="cli", platform="cli"))
        finally:
            await store.stop()

    asyncio.run(revoke())
    print(f"{args.user} さんのサインインをすべて無効にしました。再び使うには新しいリンクを発行してください。")
    return 0


def cmd_staff_sync(args: argparse.Namespace, settings: config.Settings) -> int:
    import asyncio

    from bot.slack import SyncRefused, sync_staff

    if not settings.slack_bot_token:
        print("SLACK_BOT_TOKEN を設定してから実行してください。", file=sys.stderr)
        return 2
    try:
        total, added = asyncio.run(sync_staff(settings, _engine(settings)))
    except SyncRefused:
        print("Slack から利用者が一人も返らなかったか、同時に名簿が更新され続けたため、"
              "名簿は変更していません。トークンを確認して、もう一度実行してください。",
              file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 — Slack or the network refused: nothing changed
        print(f"Slack の利用者一覧を読めませんでした（名簿は変更していません）: "
              f"{type(exc).__name__}", file=sys.stderr)
        return 1
    print(f"Slack の利用者一覧で職員名簿を更新しました（{total} 人、うち新規 {added} 人）。")
    return 0


def _extensions() -> list:
    """Feature modules add their own subcommands (staff, broadcast, kpi, …)."""
    found = []
    import importlib
    import pkgutil

    import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"commands.{info.name}")
        if hasattr(module, "add_cli"):
            found.append(module.add_cli)
    return found


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not getattr(args, "func", None):
        parser().print_help()
        return 2
    try:
        settings = config.load()
    except (ValueError, OSError) as exc:
        print(f"設定を読み込めません: {exc}", file=sys.stderr)
        return 2
    return args.func(args, settings)


if __name__ == "__main__":
    sys.exit(main())
