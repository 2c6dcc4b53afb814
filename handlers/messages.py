"""The platform-neutral shapes: what reaches the bot and what it sends back.

Adapters in bot/ translate a platform's payloads into `Incoming` and render `Outbound`;
nothing else knows a platform's JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

MAX_TEXT = 40_000  # characters; Slack's own limit for one message

KINDS = ("command", "mention", "action", "read", "message")


class BadInput(ValueError):
    """Input that is refused with a clear Japanese message; nothing is stored."""


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    action_id: str
    value: str = ""
    style: str | None = None  # "primary" or "danger"


@dataclass(frozen=True, slots=True)
class Incoming:
    """One thing addressed to the bot: a /command, an @mention, a button press or a read mark."""

    platform: str
    kind: str
    user: str
    room: str
    delivery_id: str  # the platform's id for this delivery: retries carry the same one
    text: str = ""
    command: str | None = None  # "draft" for "/draft ..."
    action_id: str | None = None
    value: str | None = None
    message_id: str | None = None  # the message a button or read mark belongs to
    thread: str | None = None
    reply: dict[str, Any] = field(default_factory=dict)  # platform reply context (response_url…)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise BadInput(f"unknown kind {self.kind!r}")
        if len(self.text) > MAX_TEXT:
            raise BadInput("text too long")

    @property
    def idempotency_key(self) -> str:
        return f"in:{self.platform}:{self.delivery_id}"

    def to_payload(self) -> dict[str, Any]:
        # Field by field (asdict deep-copies every value): this runs before each ack.
        payload = {name: getattr(self, name) for name in _INCOMING_FIELDS}
        payload["reply"] = dict(self.reply)
        return {k: v for k, v in payload.items() if v not in (None, {}, "")}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> "Incoming":
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in payload.items() if k in names})


_INCOMING_FIELDS = tuple(f.name for f in fields(Incoming))


@dataclass(frozen=True, slots=True)
class Outbound:
    """One post the bot wants delivered; stored in an `outbound.requested` event."""

    platform: str
    room: str
    text: str
    buttons: tuple[Button, ...] = ()
    private_to: str | None = None  # shown to this user only (ephemeral)
    thread: str | None = None
    ref: str | None = None  # a stable name, so a later post can update this one in place
    update: bool = False  # replace the message posted earlier under `ref`
    image: str | None = None  # a blob name (PNG) stored beside the log
    priority: int = 5
    reply: dict[str, Any] = field(default_factory=dict)
    sealed: dict[str, Any] | None = None  # encrypted text, opened only at delivery

    def to_payload(self) -> dict[str, Any]:
        data = asdict(self)
        data["buttons"] = [asdict(b) for b in self.buttons]
        return {k: v for k, v in data.items() if v not in (None, {}, "", False) or k == "text"}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> "Outbound":
        data = dict(payload)
        data["buttons"] = tuple(Button(**b) for b in data.get("buttons", ()))
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})
