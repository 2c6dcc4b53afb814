"""`chonai demo`: five minutes with sample data. Loads a sample staff directory (staff01, a
broadcaster bousai01, …), KPI figures with targets for recent weeks and months, a procedure
catalogue with 転入届, application statuses and a few documents (among them the city's
generative-AI usage rules) into a folder of its own, then runs like `chonai run` on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sys
from dataclasses import replace
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

from bot.config import Settings

DOCUMENTS = ("生成AI利用ガイドライン.md", "災害時の参集基準.md", "よくある質問.csv")
KPIS = (  # metric, direction, weekly value, weekly target, monthly value, monthly target
    ("オンライン手続数", "up", 310, 350, 1280, 1400),
    ("電子決裁率(%)", "up", 71, 80, 72, 80),
    ("印刷枚数", "down", 41000, 38000, 168000, 150000),
)


def sample_kpis(today: date) -> bytes:
    """A KPI CSV with figures for the last eight weeks and six months, trending towards their
    targets (read by the same importer as any CSV)."""
    rows = ["指標,期間,実績,目標,方向"]
    for metric, direction, week_value, week_target, month_value, month_target in KPIS:
        for back in range(8, 0, -1):
            year, week, _ = (today - timedelta(weeks=back)).isocalendar()
            drift = (8 - back) * (1 if direction == "up" else -1) * week_value // 100
            rows.append(f"{metric},{year}-W{week:02d},{week_value + drift},{week_target},{direction}")
        first = today.replace(day=1)
        for back in range(6, 0, -1):
            month = first
            for _ in range(back):
                month = (month - timedelta(days=1)).replace(day=1)
            drift = (6 - back) * (1 if direction == "up" else -1) * month_value // 60
            rows.append(f"{metric},{month:%Y-%m},{month_value + drift},{month_target},{direction}")
    return ("\n".join(rows) + "\n").encode()


def prepare(directory: Path, *, reset: bool) -> str | None:
    """Make the demo folder ready; a refusal as one Japanese line, or None."""
    if directory.exists() and any(directory.iterdir()):
        if not reset:
            return (f"{directory} は空ではありません。前回の続きは chonai run で "
                    f"（CHONAI_DATA_DIR={directory}）、作り直すときは chonai demo --reset です。")
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return None


async def load(settings: Settings) -> None:
    from commands.cli_support import engine_for
    from commands.docs import import_documents
    from commands.kpi import import_file
    from commands.kpi_data import parse_kpi_csv
    from commands.staff import parse_directory, replace_directory
    from commands.status import _append, parse_procedures, parse_statuses, status_events
    from store.events import NewEvent

    engine = engine_for(settings)
    samples = resources.files("bot") / "demo_data"
    await replace_directory(engine, parse_directory((samples / "staff.csv").read_bytes()))
    procedures = parse_procedures((samples / "procedures.csv").read_bytes())
    await _append(engine, [NewEvent("procedures.imported", "procedures:catalogue",
                                    {"rows": procedures}, actor="demo")])
    statuses = parse_statuses((samples / "statuses.csv").read_bytes())
    await _append(engine, await asyncio.to_thread(status_events, statuses, "demo", engine=engine,
                                                  settings=settings))
    rows = parse_kpi_csv(sample_kpis(date.today()))
    await import_file(engine, rows, hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:32])
    with resources.as_file(samples) as folder:
        _, errors = await import_documents(engine, [str(folder / name) for name in DOCUMENTS],
                                           departments=[], roles=[])
    for error in errors:
        print(error, file=sys.stderr)
    engine.dispose()


GUIDE = """
5分で試す（ブラウザで {url} を開いてください）

  1. 左上の「利用者」を staff01 にして /help と送る … 使えるコマンドの一覧
  2. /draft あいさつ文 新年度の職員向け … 生成AIの下書き（AI 未設定ならひな形）
     /draft 山田太郎さん（090-1234-5678）への返信 … 個人情報を見つけて AI に送りません
  3. /status R7-000123 … 申請の状況　／　/status 転入届 … 手続きのしかた
  4. /ask 生成AIに住民の名前を入れてもいい？ … 取り込んだ規程から出典つきで回答
  5. /kpi weekly … DX の KPI（グラフつき）
  6. 利用者を bousai01（一斉連絡の権限あり）にして
     /broadcast 安否 【訓練】地震が発生しました。安否を回答してください。
     → 「送信」、利用者を staff01 に戻して ✉ staff01 のルームで回答
     → bousai01 で /broadcast status（未回答の人の名前つき）

データは {folder} にあります（消すときはこのフォルダーごと削除）。
"""


def run_demo(args, settings: Settings) -> int:  # noqa: ANN001
    from bot.cli import cmd_run

    directory = Path(args.dir)
    refusal = prepare(directory, reset=args.reset)
    if refusal:
        print(refusal, file=sys.stderr)
        return 1
    # The demo is local by design: loopback, the embedded database, no platforms.
    settings = replace(settings, data_dir=str(directory), database_url="", redis_url="",
                       host="127.0.0.1", slack_bot_token="", slack_signing_secret="",
                       slack_app_token="", webhook_secret="", kpi_channel="",
                       extra={k: v for k, v in settings.extra.items()
                              if not k.startswith(("lineworks_", "chonai_jma", "chonai_anchor"))})
    print("サンプルデータを読み込んでいます…", file=sys.stderr)
    asyncio.run(load(settings))
    port = args.port or settings.port
    print(GUIDE.format(url=f"http://127.0.0.1:{port}/", folder=directory.resolve()), file=sys.stderr)
    args.host, args.port = "127.0.0.1", port
    return cmd_run(args, settings)
