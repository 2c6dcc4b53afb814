"""Turn an incoming request into the event that records it, passing AI-bound text through
the PII guard first: the log keeps redacted text and the findings, never the raw values."""

from __future__ import annotations

import asyncio
from typing import Any

from handlers.registry import Registry
from handlers.messages import Incoming
from handlers.router import is_ai_bound
from store.events import NewEvent

_INLINE_LIMIT = 2_000  # longer texts are scanned in a thread so acks stay fast


async def scan_for_storage(text: str, guard: Any, key: bytes | None) -> tuple[str, list[dict]]:
    """Return (redacted text, findings: kind and position, nothing of the value). An audit
    hash is added only when a key was given from outside the data directory."""
    from handlers import pii

    if len(text) > _INLINE_LIMIT:
        findings = await asyncio.to_thread(guard.scan, text)
    else:
        findings = guard.scan(text)
    if not findings:
        return text, []
    described = [{"type": f.type, "start": f.start, "end": f.end} for f in pii.personal(findings)]
    if key:
        for item in described:
            item["hash"] = pii.keyed_hash(text[item["start"]:item["end"]], key)
    return pii.redact(text, findings), described


async def incoming_event(incoming: Incoming, *, registry: Registry, guard: Any | None,
                         key: bytes | None, seal: Any | None = None) -> NewEvent:
    payload = incoming.to_payload()
    spec = registry.find(incoming.command) if incoming.kind == "command" and incoming.command else None
    if spec is not None and spec.sealed and seal is not None and incoming.text:
        # Personal data with a retention (a position): only the ciphertext is stored.
        payload["sealed"] = await asyncio.to_thread(seal, incoming.text)
        payload.pop("text", None)
    elif guard is not None and incoming.text and is_ai_bound(incoming, registry):
        redacted, findings = await scan_for_storage(incoming.text, guard, key)
        if findings:
            payload["text"] = redacted
            payload["pii"] = findings
    return NewEvent(type="incoming.received", stream_id=f"room:{incoming.platform}:{incoming.room}",
                    payload=payload, actor=incoming.user, platform=incoming.platform,
                    idempotency_key=incoming.idempotency_key)
