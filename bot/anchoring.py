"""Anchoring the log while the bot runs: the chain head is signed at least once a minute while
events are appended, and at shutdown (store/anchors.py). Each anchor can also leave the host —
posted to an audit room (CHONAI_ANCHOR_ROOM) and/or sent to syslog (CHONAI_ANCHOR_SYSLOG:
"local" for /dev/log, or host:port) — so that a copy exists that the database's
administrator does not hold."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.handlers
from pathlib import Path
from typing import Any

from bot.config import Settings
from store import anchors

log = logging.getLogger(__name__)
EVERY = 60.0  # seconds between anchors while the log grows


def paths(settings: Settings) -> tuple[Path, Path] | None:
    """(anchor directory, key path), or None when anchoring is not configured. Raises
    AnchorError when only one is set or either lies inside the data directory."""
    directory, key = settings.get("chonai_anchor_dir"), settings.get("chonai_anchor_key")
    if not directory and not key:
        return None
    if not directory or not key:
        missing = "CHONAI_ANCHOR_KEY" if directory else "CHONAI_ANCHOR_DIR"
        raise anchors.AnchorError(f"署名アンカーの設定が足りません: {missing} も設定してください。")
    data = Path(settings.data_dir).resolve()
    for name, value in (("CHONAI_ANCHOR_DIR", directory), ("CHONAI_ANCHOR_KEY", key)):
        resolved = Path(value).resolve()
        if resolved == data or data in resolved.parents:
            raise anchors.AnchorError(f"{name}={value} はデータディレクトリの外に置いてください"
                                      "（データベースを書き換えられる人が消せない場所）。")
    return Path(directory), Path(key)


def sign_head(settings: Settings, store, kind: str = "head", **extra: Any) -> dict | None:  # noqa: ANN001
    """Sign the current chain head now; None when anchoring is not configured."""
    found = paths(settings)
    if found is None:
        return None
    directory, key_path = found
    position, digest = store.head()
    anchor = anchors.append(directory, anchors.load_key(key_path), kind, position, digest, **extra)
    _to_syslog(settings, anchor)
    return anchor


_syslog: logging.Logger | None = None


def _to_syslog(settings: Settings, anchor: dict) -> None:
    global _syslog
    target = settings.get("chonai_anchor_syslog")
    if not target:
        return
    if _syslog is None:
        if target == "local":
            handler = logging.handlers.SysLogHandler(address="/dev/log")
        else:
            host, _, port = target.rpartition(":")
            handler = logging.handlers.SysLogHandler(address=(host or "127.0.0.1", int(port or 514)))
        _syslog = logging.getLogger("chonai.anchor")
        _syslog.propagate = False
        _syslog.addHandler(handler)
        _syslog.setLevel(logging.INFO)
    _syslog.info("chonai-anchor %s", json.dumps(anchor, ensure_ascii=False, sort_keys=True))


async def run(runtime) -> None:  # noqa: ANN001
    """While the bot runs: an anchor a minute when the log has grown (posting one to the audit
    room is itself an event: that alone does not call for another anchor)."""
    from handlers.destinations import resolve
    from handlers.messages import Outbound
    from store.events import NewEvent

    settings = runtime.settings
    if paths(settings) is None:
        return
    room_setting = settings.get("chonai_anchor_room")
    room = resolve(settings, "CHONAI_ANCHOR_ROOM", room_setting) if room_setting else None
    quiet_head = -1
    while True:
        try:
            position, _ = await asyncio.to_thread(runtime.store.head)
            if position != quiet_head:
                anchor = await asyncio.to_thread(sign_head, settings, runtime.store)
                quiet_head = anchor["position"]
                if room is not None:
                    text = ("【監査用アンカー】" + json.dumps(anchor, ensure_ascii=False, sort_keys=True))
                    out = Outbound(room[0], room[1], text, priority=9)
                    await runtime.store.append(NewEvent(
                        "outbound.requested", f"outbox:{out.platform}:{out.room}", out.to_payload(),
                        actor="anchor", platform=out.platform,
                        idempotency_key=f"anchor:{anchor['seq']}:{anchor['key'][:16]}"))
                    quiet_head = anchor["position"] + 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a full disk or a missing directory must not stop the bot
            log.warning("anchoring failed: %s", type(exc).__name__)
        await asyncio.sleep(EVERY)
