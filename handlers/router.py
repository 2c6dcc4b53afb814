"""Routing: which command, action or mention handler answers an incoming request."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from handlers.registry import Handler, Registry
from handlers.messages import Incoming

BOT_NAMES = ("@chonai", "@庁内ボット", "@ちょうないぼっと")
HELP_WORDS = ("ヘルプ", "help", "へるぷ", "使い方")
# The arguments may follow the name with no space at all (/draftあいさつ文 …), as people type.
_COMMAND = re.compile(r"^[/／]([A-Za-zＡ-Ｚａ-ｚ_]+)(?:[\s\u3000]*(.*))?$", re.S)


@dataclass(frozen=True)
class Route:
    handler: Handler | None
    args: str
    name: str  # what was asked for, for records and the unknown-command message


def parse_text(text: str) -> tuple[str, str | None, str]:
    """Classify free text typed in a room: ("command", name, args), ("mention", None, rest)
    or ("message", None, text)."""
    stripped = text.strip()
    match = _COMMAND.match(stripped)
    if match:
        name = unicodedata.normalize("NFKC", match.group(1)).lower()
        return "command", name, (match.group(2) or "").strip()
    lowered = stripped.lower()
    for bot in BOT_NAMES:
        if lowered.startswith(bot):
            return "mention", None, stripped[len(bot):].strip(" \u3000:：、,")
    return "message", None, text


def is_help(text: str) -> bool:
    lowered = text.strip().lower()
    return not lowered or any(word in lowered for word in HELP_WORDS) and len(lowered) <= 20


def is_ai_bound(incoming: Incoming, registry: Registry) -> bool:
    """Text that may be sent to an AI: it passes the PII guard before it is stored."""
    if incoming.kind == "mention":
        return not is_help(incoming.text)
    if incoming.kind == "command" and incoming.command:
        # A mistyped AI command (/darft) is treated as the command it was meant to be.
        spec = registry.find(incoming.command) or registry.suggest(incoming.command)
        return bool(spec and spec.ai_bound)
    return False


def route(incoming: Incoming, registry: Registry) -> list[Route]:
    if incoming.kind == "command":
        spec = registry.find(incoming.command or "")
        if spec is None:
            return [Route(None, incoming.text, incoming.command or "")]
        return [Route(spec.handler, incoming.text, spec.name)]
    if incoming.kind == "mention":
        help_spec = registry.find("help")
        if is_help(incoming.text) or registry.mention is None:
            return [Route(help_spec.handler if help_spec else None, "", "help")]
        return [Route(registry.mention, incoming.text, "mention")]
    if incoming.kind == "action":
        handler = registry.action_for(incoming.action_id or "")
        return [Route(handler, incoming.value or "", incoming.action_id or "")]
    if incoming.kind == "read":
        return [Route(handler, "", "read") for handler in registry.reads]
    return []
