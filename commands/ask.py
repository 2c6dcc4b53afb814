"""/ask and @mentions: questions answered from the municipality's own documents, with
sources, through the same personal-information guard as /draft."""

from __future__ import annotations

import asyncio

from commands import ai_policy
from commands.context import Context
from commands.docs import viewer_for
from commands.registry import command, mention
from handlers.ai import AiUnavailable
from handlers.retrieval import answer as answers

GENERAL_PROMPT = ("あなたは自治体職員を支援するアシスタントです。質問に日本語（です・ます）で"
                  "3〜5文で簡潔に答えてください。確かでないことは確かでないと言ってください。")


@command("ask", order=15, ai_bound=True)
async def ask(ctx: Context) -> None:
    """庁内の規程・FAQ・資料から質問に答えます（出典つき）。
    /ask 質問　例: /ask 転入届の期限は？"""
    await answer_question(ctx)


@mention
async def on_mention(ctx: Context) -> None:
    await answer_question(ctx)


async def answer_question(ctx: Context) -> None:
    question = ctx.args.strip()
    if not question:
        ctx.reply("質問を書いてください。例: /ask 住民票の写しの手数料は？", private=True)
        return
    if not ai_policy.may_use_ai(ctx):
        ctx.reply("AI を使った回答を利用する権限がありません。", private=True)
        ctx.emit("ask.refused", {"user": ctx.user, "reason": "role"}, _stream(ctx))
        return
    found = ai_policy.findings(ctx)
    if found:  # blocked before retrieval: nothing personal is searched or sent
        ai_policy.count_blocks(ctx, found)
        ctx.emit("ask.blocked", {"user": ctx.user, "department": ai_policy.department(ctx),
                                 **ai_policy.block_summary(found)}, _stream(ctx))
        ctx.reply(ai_policy.explain_block(found).replace("「伏せ字で送信」で【氏名】などに置き換えて送れます。",
                                                           "個人情報を含まない形で質問してください。"),
                  private=True)
        return
    retriever = ctx.services.get("retriever")
    viewer = viewer_for(ctx.services.get("engine"), ctx.identity_platform, ctx.user)
    query_vector = None
    if (embedder := ctx.services.get("embedder")) is not None:
        try:
            query_vector = (await embedder.embed([question]))[0]
        except Exception:  # the dense score is a bonus; BM25 still answers
            query_vector = None
    passages = await asyncio.to_thread(retriever.search, question, viewer, 5,
                                       query_vector) if retriever else []
    library = bool(retriever and len(retriever.index))
    relevant = answers.relevant(passages)
    ai = ctx.services.get("ai")
    record = {"user": ctx.user, "department": ai_policy.department(ctx), "question": question,
              "passages": [p["id"] for p in relevant], "model": ai.model if ai else None}
    if library and not relevant:
        ctx.emit("ask.answered", {**record, "result": "not_found"}, _stream(ctx))
        ctx.reply(answers.NOT_FOUND)
        return
    if not library and ai is None:
        ctx.reply("検索できる文書がまだ登録されていません（AI も未設定です）。"
                  f"{NO_DOCUMENTS_HINT}")
        return
    # Answers built from documents limited to some departments are shown privately.
    restricted = any(p["restricted"] for p in relevant)
    try:
        if relevant and ai is None:
            text, result = answers.extractive(relevant), "extractive"
        elif relevant:
            reply = await ai.complete(answers.SYSTEM_PROMPT, answers.ai_prompt(question, relevant[:4]))
            body, _ = ai_policy.scan_output(ctx, reply.text)
            text, result = answers.ai_reply(body, relevant[:4]), "ok"
        else:
            reply = await ai.complete(GENERAL_PROMPT, question, max_tokens=500)
            body, _ = ai_policy.scan_output(ctx, reply.text)
            text, result = f"{body}\n\n{ai_policy.AI_LABEL}", "ok"
            if not library:
                text += f"\n（庁内の文書はまだ登録されていないため、一般的な回答です。{NO_DOCUMENTS_HINT}）"
    except AiUnavailable as exc:
        ctx.emit("ask.answered", {**record, "result": "error"}, _stream(ctx))
        if relevant:
            ctx.reply(f"{exc.reason}代わりに該当箇所を示します。\n\n{answers.extractive(relevant)}",
                      private=restricted)
        else:
            ctx.reply(f"{exc.reason}時間をおいて、もう一度お試しください。", private=True)
        return
    ctx.emit("ask.answered", {**record, "result": result}, _stream(ctx))
    ctx.reply(text, private=restricted)


NO_DOCUMENTS_HINT = ("規程・FAQ・資料を情報システム担当が chonai docs import ファイル名 で取り込むと、"
                     "その文書から出典つきで答えます。")


def _stream(ctx: Context) -> str:
    return f"ask:{ctx.event.position}"
