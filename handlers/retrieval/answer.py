"""Answers from retrieved passages: with an AI (told to answer only from them), or
extractive (the passages themselves), always with their sources — and honest when the
documents do not hold the answer."""

from __future__ import annotations

from typing import Any

MIN_SCORE = 1.5  # below this the best passage shares too little with the question
AI_LABEL = "※生成AIによる回答です。出典の原文で必ず確認してください。"
EXTRACT_LABEL = "※AIを使わず、登録文書の該当箇所をそのまま示しています。"
NOT_FOUND = ("登録されている文書の中に、この質問に答える記述は見つかりませんでした。"
             "言い換えて質問するか、担当課にお問い合わせください。")
SYSTEM_PROMPT = (
    "あなたは自治体職員を支援するアシスタントです。与えられた【資料】だけを根拠に、"
    "日本語（です・ます）で簡潔に答えてください。資料に答えがなければ、推測せずに"
    "「資料には記載がありません」とだけ答えてください。根拠にした資料の番号を [1] のように示してください。")


def source_label(passage: dict[str, Any]) -> str:
    where = passage["title"]
    if passage.get("heading") and passage["heading"] != passage["title"]:
        where += f"「{passage['heading']}」"
    if passage.get("page"):
        where += f" {passage['page']}ページ"
    return where


MIN_SIMILARITY = 0.5  # cosine, when a dense score is configured


def relevant(passages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in passages
            if p["score"] >= MIN_SCORE or p.get("similarity", 0.0) >= MIN_SIMILARITY]


def sources_text(passages: list[dict[str, Any]]) -> str:
    return "出典:\n" + "\n".join(f"[{i}] {source_label(p)}" for i, p in enumerate(passages, 1))


def extractive(passages: list[dict[str, Any]], limit: int = 3) -> str:
    parts = [EXTRACT_LABEL]
    for i, passage in enumerate(passages[:limit], 1):
        excerpt = passage["text"] if len(passage["text"]) <= 300 else passage["text"][:300] + "…"
        parts.append(f"[{i}] {source_label(passage)}\n{excerpt}")
    return "\n\n".join(parts)


def ai_prompt(question: str, passages: list[dict[str, Any]]) -> str:
    material = "\n\n".join(f"[{i}] {source_label(p)}\n{p['text']}"
                           for i, p in enumerate(passages, 1))
    return f"【資料】\n{material}\n\n【質問】\n{question}"


def ai_reply(answer: str, passages: list[dict[str, Any]]) -> str:
    return f"{answer.strip()}\n\n{sources_text(passages)}\n{AI_LABEL}"
