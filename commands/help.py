"""/help: every command with one line on each, generated from the commands' docstrings."""

from __future__ import annotations

from commands.context import Context
from commands.registry import command


def help_text(ctx: Context) -> str:
    lines = ["庁内ボットで使えるコマンドです。"]
    for spec in ctx.services.registry.listed():
        mark = "" if spec.ready else "（準備中です。まだ使えません）"
        lines.append(f"・/{spec.name} — {spec.summary}{mark}")
        if spec.usage and spec.ready:
            lines.append(f"　　使い方: {spec.usage}")
    lines.append("・@chonai 質問 — ボットに質問します（ヘルプ と書くとこの一覧）。")
    lines.append("個人情報（氏名・住所・電話番号など）は AI に送られないよう自動で確認します。")
    return "\n".join(lines)


@command("help", aliases=("ヘルプ", "h"), order=0)
async def help_command(ctx: Context) -> None:
    """コマンドの一覧と使い方を表示します。"""
    ctx.reply(help_text(ctx))
