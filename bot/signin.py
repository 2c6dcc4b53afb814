"""Sign-in for the talk room when it listens beyond loopback: a per-user token issued by
`chonai staff token USER`, checked without any session state."""

from __future__ import annotations

import base64
import hashlib
import hmac
from bot.config import Settings, secret_file

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def required(settings: Settings) -> bool:
    return settings.host not in LOOPBACK


def _secret(settings: Settings) -> bytes:
    configured = settings.get("chonai_room_secret")
    return configured.encode() if configured else secret_file(settings, "room.key")


def issue(settings: Settings, user: str) -> str:
    name = base64.urlsafe_b64encode(user.encode()).decode().rstrip("=")
    mac = hmac.new(_secret(settings), user.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{name}.{mac}"


def user_of(settings: Settings, token: str | None) -> str | None:
    if not token or "." not in token:
        return None
    name, mac = token.rsplit(".", 1)
    try:
        user = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    expected = hmac.new(_secret(settings), user.encode(), hashlib.sha256).hexdigest()[:32]
    return user if hmac.compare_digest(expected, mac) else None
