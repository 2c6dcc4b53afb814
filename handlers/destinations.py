"""Where a configured destination (CHONAI_KPI_CHANNEL, CHONAI_JMA_ROOM, …) posts: `platform:room`,
or a bare room on the single configured chat platform. With several chat platforms configured
a bare room is ambiguous: `chonai run` refuses to start and names the setting."""

from __future__ import annotations

from typing import Any

PLATFORMS = ("local", "slack", "lineworks", "webhook")


class DestinationError(ValueError):
    """A destination that cannot be resolved; the message is Japanese and names the setting."""


def chat_platforms(settings: Any) -> list[str]:
    """The external chat platforms this deployment is configured for (not the talk room)."""
    found = []
    if settings.slack_enabled:
        found.append("slack")
    if settings.get("lineworks_bot_id") and settings.get("lineworks_bot_secret"):
        found.append("lineworks")
    if settings.webhook_secret:
        found.append("webhook")
    return found


def default_platform(settings: Any, setting: str = "") -> str:
    found = chat_platforms(settings)
    if len(found) > 1:
        raise DestinationError(
            f"{setting or '送り先'} にプラットフォームがありません。{', '.join(found)} が設定されているため、"
            f"「slack:C0123ABC」のように先頭に付けてください。")
    return found[0] if found else "local"


def resolve(settings: Any, setting: str, value: str) -> tuple[str, str]:
    """(platform, room) for a destination setting's value."""
    prefix, sep, rest = value.partition(":")
    if sep and prefix in PLATFORMS:
        if prefix != "local" and prefix not in chat_platforms(settings):
            raise DestinationError(f"{setting}={value} の {prefix} は設定されていません。"
                                   f"{prefix} の接続を設定するか、送り先を変えてください。")
        return prefix, rest
    return default_platform(settings, setting), value


def problems(settings: Any) -> list[str]:
    """Every destination setting that cannot be resolved, for the start-up check."""
    found = []
    for setting, value in (("CHONAI_KPI_CHANNEL", settings.kpi_channel),
                           ("CHONAI_JMA_ROOM", settings.get("chonai_jma_room"))):
        if value:
            try:
                resolve(settings, setting, value)
            except DestinationError as exc:
                found.append(str(exc))
    return found


def private_targets(settings: Any, person: Any) -> list[tuple[str, str]]:
    """Where to reach one staff member privately: a DM on every configured chat platform they
    have an id for, else the default platform (the talk room's dm: room on the embedded one)."""
    targets = [(p, f"dm:{person.platform_ids[p]}") for p in chat_platforms(settings)
               if person.platform_ids.get(p)]
    if targets:
        return targets
    platform = default_platform(settings)
    return [(platform, f"dm:{person.id_on(platform)}")]
