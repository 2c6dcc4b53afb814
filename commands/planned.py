"""Commands announced in /help that are not built yet: they say so plainly."""

from __future__ import annotations

from commands.context import Context
from commands.registry import command


async def _not_yet(ctx: Context) -> None:
    ctx.reply("このコマンドは準備中です。公開までお待ちください。/help で使えるコマンドを確認できます。",
              private=True)


@command("here", ready=False, order=30)
async def here(ctx: Context) -> None:
    """今いる場所（今ココ）を地図リンク付きでルームに共有します。"""
    await _not_yet(ctx)


@command("where", ready=False, order=31)
async def where(ctx: Context) -> None:
    """共有された職員の最新の位置を一覧します（調整担当向け）。"""
    await _not_yet(ctx)


@command("status", ready=False, order=40)
async def status(ctx: Context) -> None:
    """受付番号で申請の状況を、手続き名でオンライン手続きの可否を調べます。"""
    await _not_yet(ctx)


@command("kpi", ready=False, order=50)
async def kpi(ctx: Context) -> None:
    """DX の KPI（オンライン手続数・電子決裁率など）の週次・月次まとめを表示します。"""
    await _not_yet(ctx)
