"""/draft: AI drafting behind the personal-information guard, labelled output, usage records."""

from __future__ import annotations

from commands import ai_policy
from commands.context import Context, Services
from commands.draft_kinds import KINDS, split_kind, system_prompt, template
from commands.registry import action, command
from handlers.ai import AiUnavailable, from_settings
from handlers.messages import Button
from store.events import NewEvent

USAGE = "/draft [種別] 依頼文（種別: " + "・".join(KINDS) + "）"


def configure(services: Services) -> None:
    services.features["ai"] = from_settings(services.settings)


@command("draft", order=10, ai_bound=True)
async def draft(ctx: Context) -> None:
    """生成AIで文書の下書きを作ります（個人情報は送信前に自動でブロックします）。
    /draft [種別] 依頼文　例: /draft あいさつ文 4月の異動のあいさつ"""
    if not ai_policy.may_use_ai(ctx):
        ctx.reply("/draft を使う権限がありません。利用を希望する場合は情報政策担当へご相談ください。",
                  private=True)
        ctx.emit("draft.refused", {"user": ctx.user, "reason": "role"}, _stream(ctx))
        return
    kind, request, _ = split_kind(ctx.args)
    if not request:
        ctx.reply(f"依頼文を書いてください。使い方: {USAGE}", private=True)
        return
    found = ai_policy.findings(ctx)
    if found:
        ai_policy.count_blocks(ctx, found)
        ctx.emit("draft.blocked", {"user": ctx.user, "department": ai_policy.department(ctx),
                                   "kind": kind, **ai_policy.block_summary(found)}, _stream(ctx))
        source = str(ctx.event.position)
        ctx.reply(ai_policy.explain_block(found), private=True, buttons=[
            Button("伏せ字で送信", "draft.send_redacted", source, "primary"),
            Button("修正して送り直す", "draft.edit", source)])
        return
    await _produce(ctx, kind, request, request_position=ctx.event.position)


async def _produce(ctx: Context, kind: str, request: str, *, request_position: int) -> None:
    """Ask the AI (or fill a template) and reply privately, labelled, with buttons."""
    stream = f"draft:{request_position}"
    record = {"user": ctx.user, "department": ai_policy.department(ctx), "kind": kind,
              "request": request_position}
    ai = ctx.services.get("ai")
    buttons = [Button("再生成", "draft.regenerate", str(request_position)),
               Button("ルームに投稿", "draft.post", str(request_position), "primary")]
    if ai is None:
        text = f"{template(kind, request)}\n\n{ai_policy.TEMPLATE_LABEL}"
        ctx.emit("draft.completed", {**record, "result": "template", "model": None,
                                     "prompt_tokens": 0, "completion_tokens": 0, "text": text},
                 stream)
        ctx.reply(f"［{kind}］\n{text}", private=True, buttons=buttons[1:], ref=f"draft:{request_position}:reply")
        return
    try:
        answer = await ai.complete(system_prompt(kind, request), request)
    except AiUnavailable as exc:
        ctx.emit("draft.completed", {**record, "result": "error", "model": ai.model,
                                     "prompt_tokens": 0, "completion_tokens": 0}, stream)
        ctx.reply(f"{exc.reason}時間をおいて、もう一度お試しください。", private=True,
                  buttons=buttons[:1])
        return
    text, leaked = ai_policy.scan_output(ctx, answer.text)
    note = "\n（AI の出力に個人情報らしき箇所があったため伏せ字にしました）" if leaked else ""
    labelled = f"{text}{note}\n\n{ai_policy.AI_LABEL}"
    ctx.emit("draft.completed", {**record, "result": "ok", "model": answer.model,
                                 "prompt_tokens": answer.prompt_tokens,
                                 "completion_tokens": answer.completion_tokens,
                                 "output_pii": leaked, "text": labelled}, stream)
    ctx.reply(f"［{kind}］\n{labelled}", private=True, buttons=buttons, ref=f"draft:{request_position}:reply")


def _stream(ctx: Context) -> str:
    return f"draft:{ctx.event.position}"


async def _original(ctx: Context) -> tuple[int, str, str] | None:
    """The /draft request a button refers to: (position, kind, guard-passed text)."""
    import asyncio

    try:
        position = int(ctx.args)
    except ValueError:
        return None
    found = await asyncio.to_thread(ctx.services.store.read, position - 1, limit=1)
    if not found or found[0].position != position or found[0].type != "incoming.received":
        return None
    event = found[0]
    if event.actor != ctx.user or event.payload.get("command") != "draft":
        return None
    kind, request, _ = split_kind(event.payload.get("text", ""))
    return position, kind, request


async def _first_press(ctx: Context, position: int, what: str) -> bool:
    """True for the first press of a one-time button (a double click, a retry or a second
    device finds the marker and changes nothing); the marker is the record of the action."""
    [marker] = await ctx.services.store.append(NewEvent(
        "draft.posted" if what.startswith("posted") else "draft.redacted_sent", f"draft:{position}",
        {"user": ctx.user, "request": position}, actor=ctx.user, platform=ctx.platform,
        causation_id=str(ctx.event.position), idempotency_key=f"draft:{position}:{what}"))
    return marker.causation_id == str(ctx.event.position)


@action("draft.")
async def draft_buttons(ctx: Context) -> None:
    """Buttons under a draft or a block notice: send redacted, edit, regenerate, post."""
    import asyncio

    original = await _original(ctx)
    if original is None:
        ctx.reply("この操作は、依頼した本人だけが行えます。", private=True)
        return
    position, kind, request = original
    action_id = ctx.incoming.action_id
    if action_id == "draft.edit":
        ctx.reply("個人情報（氏名・住所・電話番号など）を消すか【氏名】のように書き換えて、"
                  "もう一度 /draft で送ってください。", private=True)
    elif action_id == "draft.regenerate":
        # The stored request is the guard's redacted text: placeholders, never raw values.
        await _produce(ctx, kind, request, request_position=position)
    elif action_id == "draft.send_redacted":
        if not await _first_press(ctx, position, "redacted"):
            ctx.reply("伏せ字での送信はすでに受け付けています。届いた下書きをご確認ください。", private=True)
            return
        await _produce(ctx, kind, request, request_position=position)
    elif action_id == "draft.post":
        drafts = await asyncio.to_thread(ctx.services.store.stream, f"draft:{position}")
        done = [e for e in drafts if e.type == "draft.completed" and e.payload.get("text")]
        if not done:
            ctx.reply("投稿できる下書きがありません。", private=True)
            return
        if not await _first_press(ctx, position, f"posted:{done[-1].position}"):
            ctx.reply("この下書きはすでにルームに投稿しています。", private=True)
            return
        ctx.reply(f"{ctx.user} さんが作成した下書きです。\n\n{done[-1].payload['text']}")
        # The private draft keeps its text but no longer offers 「ルームに投稿」.
        ctx.reply(f"［{kind}］\n{done[-1].payload['text']}\n\n（ルームに投稿しました）", private=True,
                  ref=f"draft:{position}:reply", update=True)
