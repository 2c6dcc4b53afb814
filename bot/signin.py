"""Sign-in for the talk room when it listens beyond loopback.

`chonai staff token USER` (staff in the directory only) prints a one-time sign-in link; the
link's code is exchanged once, by `GET /signin?code=…`, for a session cookie (HttpOnly,
SameSite=Strict, Secure behind https) and a redirect, so the long-lived token never travels in
a URL that a proxy logs. Tokens carry their expiry (CHONAI_SIGNIN_DAYS, default 90) and are
checked statelessly by their HMAC; `chonai staff revoke USER` ends every token issued before
it (an event, so the revocation is itself on the record)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from bot.config import Settings, secret_file

LOOPBACK = ("127.0.0.1", "::1", "localhost")
CODE_SECONDS = 15 * 60
COOKIE = "chonai_session"
MAX_TOKEN = 1024


def required(settings: Settings) -> bool:
    return settings.host not in LOOPBACK


def session_days(settings: Settings) -> float:
    raw = settings.get("chonai_signin_days", "90")
    try:
        return max(0.01, float(raw))
    except ValueError:
        return 90.0


def _secret(settings: Settings) -> bytes:
    configured = settings.get("chonai_room_secret")
    return configured.encode() if configured else secret_file(settings, "room.key")


def _sign(settings: Settings, claims: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode()
    body = body.rstrip("=")
    mac = hmac.new(_secret(settings), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def _open(settings: Settings, token: str | None, kind: str, now: float | None = None
          ) -> dict[str, Any] | None:
    """The claims of a well-formed, correctly signed, unexpired token of this kind, or None."""
    if not token or len(token) > MAX_TOKEN or not token.isascii() or token.count(".") != 1:
        return None
    body, mac = token.split(".")
    expected = hmac.new(_secret(settings), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict) or claims.get("k") != kind or \
            not isinstance(claims.get("u"), str) or not isinstance(claims.get("exp"), (int, float)):
        return None
    if claims["exp"] <= (now if now is not None else time.time()):
        return None
    return claims


def issue(settings: Settings, user: str, *, now: float | None = None) -> str:
    """A session token (for the cookie, or `Authorization: Bearer` from a script)."""
    now = now if now is not None else time.time()
    return _sign(settings, {"k": "session", "u": user, "iat": int(now),
                            "exp": int(now + session_days(settings) * 86400)})


def one_time_code(settings: Settings, user: str, *, now: float | None = None) -> str:
    now = now if now is not None else time.time()
    return _sign(settings, {"k": "code", "u": user, "iat": int(now), "exp": int(now + CODE_SECONDS),
                            "jti": secrets.token_hex(12)})


def open_code(settings: Settings, code: str | None) -> dict[str, Any] | None:
    return _open(settings, code, "code")


def session_claims(settings: Settings, token: str | None) -> dict[str, Any] | None:
    return _open(settings, token, "session")


def revocation_stream(user: str) -> str:
    return f"signin:{user}"


def revoked(history: list[Any], issued_at: float) -> bool:
    """Whether a token issued at `issued_at` was revoked by a later `signin.revoked`."""
    return any(e.type == "signin.revoked" and issued_at <= e.payload.get("before", 0)
               for e in history)
