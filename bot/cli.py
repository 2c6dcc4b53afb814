"""The `chonai` command line."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Callable
from pathlib import Path

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
    problem = start_problem(settings)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    tighten_data_dir(settings)
    try:
        app = build_app(settings)
    except Exception as exc:  # noqa: BLE001 — one clear line instead of a traceback
        print(_database_problem(settings, exc), file=sys.stderr)
        return 1
    print(f"chonai: http://{host}:{port}/ （Ctrl+C で停止）", file=sys.stderr)
    # What start-up loaded (dictionaries, gazetteers, the registry) lives as long as the
    # process: keep it out of the cyclic collector, whose full passes over it stalled every
    # request in flight for tens of milliseconds.
    gc.collect()
    gc.freeze()
    try:
        web.run_app(app, host=host, port=port, print=None, shutdown_timeout=15, access_log=None)
    except OSError as exc:
        print(f"ポート {port}（{host}）で待ち受けできません: {exc.strerror or exc}。"
              "CHONAI_PORT か --port で別のポートを指定してください。", file=sys.stderr)
        return 1
    return 0


def start_problem(settings: config.Settings) -> str | None:
    """The first thing that would stop `chonai run`, as one Japanese line naming the setting."""
    import socket

    for problem in config.start_problems(settings):
        return problem
    try:
        infos = socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM)
    except OSError:
        return f"待ち受けアドレス {settings.host} が見つかりません（CHONAI_HOST / --host を確認してください）。"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return (f"ポート {settings.port} はすでに使われています（{settings.host}）。"
                    "起動中の chonai を止めるか、CHONAI_PORT / --port で別のポートを指定してください。")
    if settings.redis_url:
        import redis

        try:
            redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3).ping()
        except Exception as exc:  # noqa: BLE001
            return (f"Redis に接続できません（REDIS_URL={_safe_url(settings.redis_url)}）: "
                    f"{type(exc).__name__}。Redis を起動するか REDIS_URL を確認してください。")
    return None


def _safe_url(url: str) -> str:
    """A connection URL without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"


def _database_problem(settings: config.Settings, exc: Exception) -> str:
    if settings.database_url:
        return (f"データベースに接続できません（DATABASE_URL={_safe_url(settings.database_url)}）: "
                f"{type(exc).__name__}。PostgreSQL が起動しているか、DATABASE_URL を確認してください。")
    return (f"データディレクトリ {settings.data_dir} のデータベースを開けません: "
            f"{type(exc).__name__}（CHONAI_DATA_DIR を確認してください）。")


def tighten_data_dir(settings: config.Settings) -> None:
    """The data directory is this account's alone (0700, files 0600): chat text, keys and
    positions live there. A chonai.toml that others can read, with secrets in it, is flagged."""
    import os
    import stat
    from pathlib import Path

    root = Path(settings.data_dir)
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()  # a data directory reached through a symlink is tightened itself
    loosened = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        wanted = 0o700 if path.is_dir() else 0o600
        if not path.is_symlink() and mode & 0o077:
            os.chmod(path, mode & wanted)
            loosened.append(path)
    if loosened:
        print(f"データディレクトリ {root} のアクセス権を本人だけに絞りました（{len(loosened)} 件）。",
              file=sys.stderr)
    toml = config.config_path()
    if toml.is_file() and stat.S_IMODE(toml.stat().st_mode) & 0o044:
        text = toml.read_text(encoding="utf-8", errors="replace").lower()
        if any(word in text for word in ("secret", "token", "key", "password", "passphrase")):
            print(f"注意: {toml} には秘密の設定が含まれていますが、ほかの利用者も読めます。"
                  f"chmod 600 {toml} を実行してください。", file=sys.stderr)


def cmd_demo(args: argparse.Namespace, settings: config.Settings) -> int:
    from bot.demo import run_demo

    return run_demo(args, settings)


def cmd_migrate(args: argparse.Namespace, settings: config.Settings) -> int:
    from store.migrate import current

    engine = _engine(settings)
    print(f"schema at revision {current(engine)}")
    return 0


def cmd_events(args: argparse.Namespace, settings: config.Settings) -> int:
    from store.events import EventStore

    from commands.cli_support import existing_engine

    engine = existing_engine(settings)
    if engine is None:
        return 1
    store = EventStore(engine)
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
    from bot import audit
    from commands.cli_support import existing_engine

    engine = existing_engine(settings)
    if engine is None:
        return 1
    public_key = None
    if args.public_key:
        path = Path(args.public_key)
        public_key = path.read_text().strip() if path.is_file() else args.public_key
    try:
        return audit.verify(settings, engine, read_models=args.read_models, public_key=public_key)
    except Exception as exc:  # noqa: BLE001 — an unreadable anchor directory or key
        print(f"検証できません: {exc}", file=sys.stderr)
        return 2


def cmd_anchor(args: argparse.Namespace, settings: config.Settings) -> int:
    from bot import audit

    return audit.anchor(settings, _engine(settings), show_public_key=args.public_key,
                        rotate=args.rotate_key)


def cmd_backup(args: argparse.Namespace, settings: config.Settings) -> int:
    from bot import audit
    from commands.cli_support import existing_engine

    engine = existing_engine(settings, migrate=True)
    if engine is None:
        return 1
    return audit.backup(settings, engine, args.file)


def cmd_restore(args: argparse.Namespace, settings: config.Settings) -> int:
    from bot import audit

    if not Path(args.file).is_file():
        print(f"{args.file}: ファイルが見つかりません。", file=sys.stderr)
        return 1
    return audit.restore(settings, args.file)


def cmd_pii_scan(args: argparse.Namespace, settings: config.Settings) -> int:
    from handlers.pii.cli import scan_stream

    scan_stream(sys.stdin, sys.stdout)
    return 0


Command = Callable[[argparse.Namespace, config.Settings], int]


class JapaneseFormatter(argparse.RawDescriptionHelpFormatter):
    def add_usage(self, usage, actions, groups, prefix=None):  # noqa: ANN001
        return super().add_usage(usage, actions, groups, "使い方: " if prefix is None else prefix)


class JapaneseParser(argparse.ArgumentParser):
    """argparse with Japanese headings, help option and error line."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        kwargs.setdefault("formatter_class", JapaneseFormatter)
        kwargs.setdefault("add_help", False)
        super().__init__(*args, **kwargs)
        self._positionals.title = "引数"
        self._optionals.title = "オプション"
        self.add_argument("-h", "--help", action="help", help="この説明を表示して終わる")

    def error(self, message: str):  # noqa: ANN201
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: 入力に誤りがあります: {message}\n"
                     f"（{self.prog} --help で使い方を表示します）\n")


def parser() -> argparse.ArgumentParser:
    top = JapaneseParser(prog="chonai", description="庁内ボット chonai-bot: 自治体職員のためのチャットボット。"
                         "コマンドごとの説明は chonai コマンド名 --help で表示します。")
    sub = top.add_subparsers(dest="command", metavar="コマンド",
                             parser_class=JapaneseParser)

    def add(name: str, func: Command, help_text: str, parent=sub) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help_text.split("。")[0], description=help_text)
        p.set_defaults(func=func)
        return p

    run = add("run", cmd_run, "ボットを起動する（庁内トーク・各プラットフォーム・配信）。例: chonai run --port 8080")
    run.add_argument("--port", type=int, help="待ち受けるポート（既定は CHONAI_PORT か 8080）")
    run.add_argument("--host", help="待ち受けアドレス（既定 127.0.0.1。ほかにするとサインイン必須）")
    demo = add("demo", cmd_demo, "サンプルデータで試す: 職員名簿・KPI・手続き・申請状況・文書を読み込んで"
               "（既定 ./demo-data）、127.0.0.1 で起動し、何を試せばよいかを表示します")
    demo.add_argument("--dir", default="./demo-data", help="サンプルデータを置くフォルダー（既定 ./demo-data）")
    demo.add_argument("--reset", action="store_true", help="フォルダーが空でなくても作り直す")
    demo.add_argument("--port", type=int, help="待ち受けるポート（既定は CHONAI_PORT か 8080）")
    add("migrate", cmd_migrate, "データベースを最新の形にする（SQLite か DATABASE_URL）")
    events = add("events", cmd_events, "イベントログを JSON 行で表示")
    events.add_argument("--type", help="この種類のイベントだけ（例: broadcast.answered）")
    events.add_argument("--since", type=int, default=0, help="この位置より後だけ")
    events.add_argument("--limit", type=int, default=0, help="最大件数")
    add("replay", cmd_replay, "読み取りモデルをすべてイベントログから作り直す")
    verify = add("verify", cmd_verify, "改ざん検知: ハッシュチェーンと署名アンカーを確かめ、異常があれば最初の位置を示して終了コード 1")
    verify.add_argument("--read-models", action="store_true",
                        help="読み取りモデルもログから作り直して比べる")
    verify.add_argument("--public-key", help="信頼するアンカーの公開鍵（文字列かファイル）")
    anchor = add("anchor", cmd_anchor, "いまのチェーンの先頭に署名してアンカーを書く（CHONAI_ANCHOR_DIR, CHONAI_ANCHOR_KEY）")
    anchor.add_argument("--public-key", action="store_true", help="公開鍵を表示して終わる（監査担当に渡す）")
    anchor.add_argument("--rotate-key", action="store_true", help="署名鍵を新しくする（古い鍵で署名したアンカーに新しい公開鍵を記録）")
    backup = add("backup", cmd_backup, "動かしたままバックアップを取る（SQLite のオンラインバックアップか pg_dump -Fc、アンカーも含む）。"
                 "CHONAI_BACKUP_PASSPHRASE で暗号化。例: chonai backup /var/backups/chonai-20261202.chonai")
    backup.add_argument("file", metavar="ファイル", help="書き出すバックアップファイル")
    restore = add("restore", cmd_restore, "空のデータディレクトリにバックアップを復元し、署名つきの復元点を書いて検証する")
    restore.add_argument("file", metavar="ファイル", help="chonai backup で作ったファイル")
    pii = sub.add_parser("pii", help="個人情報ガードの道具", description="個人情報ガードの道具")
    pii_sub = pii.add_subparsers(dest="pii_command", metavar="操作")
    add("scan", cmd_pii_scan, "標準入力の JSON 行 {\"id\",\"text\"} から個人情報の位置 {\"id\",\"spans\"} を出力",
        parent=pii_sub)
    added = {extend.__module__: extend(sub, add) for extend in _extensions()}
    add_staff_platform_commands(added["commands.staff"], add)
    return top


def add_staff_platform_commands(staff_sub, add) -> None:  # noqa: ANN001
    """`chonai staff token|revoke|sync`: sign-in for the talk room and Slack's users.list."""
    p = add("token", cmd_staff_token, "庁内トークの一回限りのサインイン用リンクを発行（職員名簿にいる人だけ）", parent=staff_sub)
    p.add_argument("user", metavar="職員ID")
    p.add_argument("--base-url", help="職員が開くアドレス（既定 http://HOST:PORT）")
    p = add("revoke", cmd_staff_revoke, "その職員のサインインをすべて無効にする",
            parent=staff_sub)
    p.add_argument("user", metavar="職員ID")
    add("sync", cmd_staff_sync, "Slack の利用者一覧で職員名簿を更新する（CSV で入れた部署と役割は保つ）", parent=staff_sub)


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
    import os

    # Everything chonai creates (the data directory, SQLite's -wal/-shm, keys, exports) is
    # readable by this account only.
    os.umask(0o077)
    top = parser()
    args = top.parse_args(argv)
    if not getattr(args, "func", None):
        # "chonai staff" alone: the help of that group, not of everything.
        groups = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
        chosen = groups.choices.get(getattr(args, "command", None) or "")
        (chosen or top).print_help()
        return 2
    try:
        settings = config.load()
    except (ValueError, OSError) as exc:
        print(f"設定を読み込めません: {exc}", file=sys.stderr)
        return 2
    return args.func(args, settings)


if __name__ == "__main__":
    sys.exit(main())
