"""Block Kit rendering of a neutral `Outbound` (text, buttons, an image), and reading back the
ids we put into blocks when a button is pressed.

Slack's limits shape the output: a section holds 3,000 characters, a message 50 blocks, an
actions block 25 elements whose action_ids must differ, a button label 75 characters.
"""

from __future__ import annotations

import re
from typing import Any

from handlers.messages import Button, Outbound

SECTION_CHARS = 3_000
MAX_BLOCKS = 50
BUTTONS_PER_BLOCK = 25
LABEL_CHARS = 75
VALUE_CHARS = 2_000
ID_CHARS = 255
FALLBACK_CHARS = 40_000
TRUNCATED = "…（長いため省略しました）"

_DUPLICATE = re.compile(r"\|#\d+$")  # suffix that keeps repeated action_ids unique in a block
_BLOCK_REF = re.compile(r"^chonai\d+:(.+)$", re.S)


def escape(text: str) -> str:
    """Slack's mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def split_text(text: str, size: int = SECTION_CHARS) -> list[str]:
    """Pieces of at most `size` characters, cut at line ends where possible."""
    pieces: list[str] = []
    rest = text
    while len(rest) > size:
        cut = rest.rfind("\n", 0, size)
        if cut <= 0:
            cut = size
        pieces.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    if rest.strip() or not pieces:
        pieces.append(rest)
    return pieces


def _button(button: Button, action_id: str) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button", "action_id": action_id[:ID_CHARS],
        "text": {"type": "plain_text", "text": button.label[:LABEL_CHARS] or "…", "emoji": True},
        "value": button.value[:VALUE_CHARS]}
    if button.style in ("primary", "danger"):
        element["style"] = button.style
    return element


def action_blocks(buttons: tuple[Button, ...], ref: str | None) -> list[dict[str, Any]]:
    blocks = []
    for start in range(0, len(buttons), BUTTONS_PER_BLOCK):
        chunk = buttons[start:start + BUTTONS_PER_BLOCK]
        seen: dict[str, int] = {}
        elements = []
        for button in chunk:
            count = seen.get(button.action_id, 0)
            seen[button.action_id] = count + 1
            suffix = f"|#{count}" if count else ""
            elements.append(_button(button, button.action_id + suffix))
        block: dict[str, Any] = {"type": "actions", "elements": elements}
        block_id = f"chonai{start // BUTTONS_PER_BLOCK}" + (f":{ref}" if ref else "")
        if len(block_id) <= ID_CHARS:  # carries the post's ref back with a button press
            block["block_id"] = block_id
        blocks.append(block)
    return blocks


def render(out: Outbound, *, image_file: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """(fallback text for notifications, blocks) for one outbound post."""
    action = action_blocks(out.buttons, out.ref)
    image = ([{"type": "image", "slack_file": {"id": image_file}, "alt_text": "グラフ"}]
             if image_file else [])
    room = MAX_BLOCKS - len(action) - len(image)
    # Escape first, so the escaped pieces are what fits the section limit.
    sections = [piece for piece in split_text(escape(out.text)) if piece.strip()]
    if len(sections) > room:
        sections = sections[:room]
        sections[-1] = sections[-1][:SECTION_CHARS - len(TRUNCATED)] + TRUNCATED
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": piece}}
              for piece in sections]
    fallback = out.text[:FALLBACK_CHARS] or " "
    return fallback, blocks + image + action


def our_action_id(slack_action_id: str) -> str:
    """The action_id our command registered, without the uniqueness suffix."""
    return _DUPLICATE.sub("", slack_action_id)


def ref_from_block(block_id: str | None) -> str | None:
    match = _BLOCK_REF.match(block_id or "")
    return match.group(1) if match else None
