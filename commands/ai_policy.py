"""Rules every AI use follows (/draft, /ask, mentions): who may use it, the explanation when
personal information blocks a prompt, the scan of the AI's output, and the usage record."""

from __future__ import annotations

from typing import Any

from commands.context import Context

AI_LABEL = "※生成AIによる下書きです。内容を必ず確認してください。"
TEMPLATE_LABEL = "※AI は使っていません（AI が未設定のため、定型のひな形です）。【】を埋めてお使いください。"


def person(ctx: Context) -> Any | None:
    try:
        from store.staff import find_person
    except ImportError:
        return None
    return find_person(ctx.services.get("engine"), ctx.identity_platform, ctx.user)


def department(ctx: Context) -> str:
    found = person(ctx)
    return found.department if found else "（未登録）"


def may_use_ai(ctx: Context) -> bool:
    role = ctx.services.settings.draft_role
    if not role:
        return True
    found = person(ctx)
    return bool(found and role in found.roles)


def findings(ctx: Context) -> list[dict[str, Any]]:
    """The guard's findings recorded with the incoming request (no raw values)."""
    return list(ctx.event.payload.get("pii") or [])


def explain_block(found: list[dict[str, Any]]) -> str:
    from handlers.pii import Finding, describe

    lines = ["個人情報が含まれているため、AI には送信していません。"]
    for item in found:
        lines.append("・" + describe(Finding(item["start"], item["end"], item["type"])))
    lines.append("個人情報を消して送り直すか、「伏せ字で送信」で【氏名】などに置き換えて送れます。")
    return "\n".join(lines)


def count_blocks(ctx: Context, found: list[dict[str, Any]]) -> None:
    metrics = ctx.services.get("metrics")
    if metrics is not None:
        for item in found:
            metrics.pii_blocks.labels(item["type"]).inc()


def scan_output(ctx: Context, text: str) -> tuple[str, list[str]]:
    """The AI's answer with any personal information it produced replaced by placeholders."""
    from handlers.pii import personal, redact

    guard = ctx.services.get("guard")
    if guard is None:
        return text, []
    found = personal(guard.scan(text))
    return (redact(text, found), sorted({f.type for f in found})) if found else (text, [])


def block_summary(found: list[dict[str, Any]]) -> dict[str, Any]:
    """What the log keeps of a blocked prompt: kinds, counts, positions (and audit hashes
    when CHONAI_PII_KEY is set)."""
    kinds: dict[str, int] = {}
    for item in found:
        kinds[item["type"]] = kinds.get(item["type"], 0) + 1
    return {"kinds": kinds, "findings": [{k: item[k] for k in ("type", "start", "end", "hash")
                                          if k in item} for item in found]}
