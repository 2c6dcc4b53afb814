"""What a command sees: the incoming request, the services, and a place to put its output.

A command never posts directly: `reply`, `post` and `emit` collect events that the
dispatcher appends atomically, with idempotency keys derived from the incoming event, so a
command re-run after a crash cannot post twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from handlers.messages import Button, Incoming, Outbound
from store.events import EventStore, NewEvent, RecordedEvent


@dataclass
class Services:
    store: EventStore
    settings: Any
    registry: Any
    clock: Callable[[], datetime]
    features: dict[str, Any] = field(default_factory=dict)  # optional parts: "guard", "ai", …

    def get(self, name: str) -> Any:
        return self.features.get(name)


class Context:
    def __init__(self, services: Services, incoming: Incoming, event: RecordedEvent,
                 args: str = "") -> None:
        self.services = services
        self.incoming = incoming
        self.event = event
        self.args = args
        self.events: list[NewEvent] = []

    @property
    def user(self) -> str:
        return self.incoming.user

    @property
    def room(self) -> str:
        return self.incoming.room

    @property
    def platform(self) -> str:
        return self.incoming.platform

    @property
    def identity_platform(self) -> str:
        """The key under which the directory's platform_ids know this sender: the platform,
        or for a signed relay "webhook:" and the relay's own platform value (logochat…)."""
        relay = self.incoming.reply.get("relay_platform") if self.incoming.reply else None
        return f"{self.incoming.platform}:{relay}" if relay else self.incoming.platform

    def emit(self, type: str, payload: dict[str, Any], stream_id: str,
             expected_version: int | None = None) -> None:
        self.events.append(NewEvent(
            type=type, stream_id=stream_id, payload=payload, expected_version=expected_version,
            actor=self.user, platform=self.platform,
            correlation_id=self.event.correlation_id or str(self.event.position),
            causation_id=str(self.event.position)))

    def send(self, outbound: Outbound) -> None:
        self.emit("outbound.requested", outbound.to_payload(),
                  f"outbox:{outbound.platform}:{outbound.room}")

    def reply(self, text: str, *, buttons: Iterable[Button] = (), private: bool = False,
              ref: str | None = None, update: bool = False, image: str | None = None) -> None:
        """Answer in the room the request came from (privately: only its sender sees it)."""
        self.send(Outbound(
            platform=self.platform, room=self.room, text=text, buttons=tuple(buttons),
            private_to=self.user if private else None, thread=self.incoming.thread,
            ref=ref, update=update, image=image, reply=self.incoming.reply))

    def post(self, room: str, text: str, *, buttons: Iterable[Button] = (),
             platform: str | None = None, ref: str | None = None, update: bool = False,
             image: str | None = None, priority: int = 5) -> None:
        """Post to any room of a platform; `dm:{user}` is a direct message."""
        self.send(Outbound(platform=platform or self.platform, room=room, text=text,
                           buttons=tuple(buttons), ref=ref, update=update, image=image,
                           priority=priority))
