"""Commands announced in /help that are not built yet: they say so plainly."""

from __future__ import annotations

from commands.context import Context
from commands.registry import command


async def _not_yet(ctx: Context) -> None:
    ctx.reply("このコマンドは準備中です。公開までお待ちください。/help で使えるコマンドを確認できます。",
              private=True)


@command("kpi", ready=False, order=50)
async def kpi(ctx: Context) -> None:
    """DX の KPI（オンライン手続数・電子決裁率など）の週次・月次まとめを表示します。"""
    await _not_yet(ctx)
