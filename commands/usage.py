"""`chonai usage report`: who used the AI, for what, with what result — for auditors."""

from __future__ import annotations

import sys
from collections import Counter
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

USE_TYPES = ("draft.completed", "draft.blocked", "draft.refused", "ask.answered", "ask.blocked",
             "ask.refused")


def month_report(events: list, month: str, tz: str) -> dict[str, Any]:
    zone = ZoneInfo(tz)
    uses = []
    for event in events:
        local = event.time.astimezone(zone)
        if local.strftime("%Y-%m") != month:
            continue
        data = event.payload
        result = {"draft.blocked": "blocked", "ask.blocked": "blocked",
                  "draft.refused": "refused", "ask.refused": "refused"}.get(
            event.type, data.get("result", ""))
        uses.append({"time": local.strftime("%Y-%m-%d %H:%M"), "user": data.get("user", ""),
                     "department": data.get("department", ""),
                     "purpose": data.get("kind") or ("質問" if event.type.startswith("ask") else ""),
                     "model": data.get("model") or "", "result": result,
                     "prompt_tokens": data.get("prompt_tokens", 0),
                     "completion_tokens": data.get("completion_tokens", 0),
                     "blocked_kinds": ";".join(sorted(data.get("kinds", {})))})
    blocks: Counter = Counter()
    for event in events:
        if event.type.endswith(".blocked") and event.time.astimezone(zone).strftime("%Y-%m") == month:
            blocks.update(event.payload.get("kinds", {}))
    # What reached an AI (a call, answered or failed) is counted apart from what did not:
    # templates and extracts (no AI configured), nothing found, blocked and refused requests.
    ai_calls = [u for u in uses if u["result"] in ("ok", "error")]
    return {"month": month, "uses": uses, "ai_calls": len(ai_calls),
            "ai_failures": sum(1 for u in ai_calls if u["result"] == "error"),
            "without_ai": dict(Counter(u["result"] for u in uses if u not in ai_calls)),
            "by_department": dict(Counter(u["department"] for u in ai_calls)),
            "by_purpose": dict(Counter(u["purpose"] for u in ai_calls)),
            "blocks_by_kind": dict(blocks)}


RESULT_LABELS = {"template": "ひな形（AI 未設定）", "extractive": "文書の抜粋（AI 未設定）",
                 "not_found": "該当する文書なし", "blocked": "個人情報でブロック", "refused": "権限なしで拒否"}


def add_cli(sub: Any, add: Any) -> None:
    from commands.cli_support import existing_engine
    from store.events import EventStore

    usage = sub.add_parser("usage", help="生成 AI の利用記録（監査用）", description="生成 AI の利用記録（監査用）")
    usage_sub = usage.add_subparsers(dest="usage_command", metavar="操作")

    def cmd_report(args, settings) -> int:
        try:
            datetime.strptime(args.month, "%Y-%m")
        except ValueError:
            print("--month は YYYY-MM の形で指定してください（例: 2026-11）。", file=sys.stderr)
            return 2
        engine = existing_engine(settings, migrate=True)
        if engine is None:
            return 1
        store = EventStore(engine)
        report = month_report(list(store.iter_all(types=USE_TYPES)), args.month, settings.tz)
        if args.csv:
            from commands.cli_support import write_csv

            columns = ["time", "user", "department", "purpose", "model", "result",
                       "prompt_tokens", "completion_tokens", "blocked_kinds"]
            write_csv(columns, ([use[c] for c in columns] for use in report["uses"]))
            return 0
        failed = f"（うち失敗 {report['ai_failures']} 件）" if report["ai_failures"] else ""
        print(f"{args.month} の AI 利用: {report['ai_calls']} 件{failed}")
        print("部署別: " + ("、".join(f"{k} {v}件" for k, v in report["by_department"].items()) or "なし"))
        print("用途別: " + ("、".join(f"{k} {v}件" for k, v in report["by_purpose"].items()) or "なし"))
        print("AI を使わなかった依頼: " + ("、".join(
            f"{RESULT_LABELS.get(k, k)} {v}件" for k, v in report["without_ai"].items()) or "なし"))
        print("個人情報によるブロック（種類別）: " + (
            "、".join(f"{k} {v}件" for k, v in report["blocks_by_kind"].items()) or "なし"))
        for use in report["uses"]:
            print(f"{use['time']}\t{use['user']}\t{use['department']}\t{use['purpose']}\t"
                  f"{use['result']}\t{use['model']}")
        return 0

    p = add("report", cmd_report, "月ごとの生成 AI の利用: 部署別・用途別、ひな形・抜粋・ブロックの件数。例: chonai usage report --month 2026-11",
            parent=usage_sub)
    p.add_argument("--month", required=True, help="対象の月（YYYY-MM）")
    p.add_argument("--csv", action="store_true", help="利用の一覧を CSV（BOM つき UTF-8）で出力")
