"""The signature scheme of our signed webhooks (both ways): `X-Chonai-Timestamp` (unix
seconds) and `X-Chonai-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{raw body}">`."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

TOLERANCE = 300  # seconds a timestamp may be off


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(now if now is not None else time.time()))
    return {"X-Chonai-Timestamp": timestamp,
            "X-Chonai-Signature": signature(secret, timestamp, body)}


def verify(secret: str, request_headers: Mapping[str, str], body: bytes,
           now: float | None = None) -> bool:
    timestamp = request_headers.get("X-Chonai-Timestamp", "")
    given = request_headers.get("X-Chonai-Signature", "")
    if not secret or not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > TOLERANCE:
        return False
    try:  # a non-ASCII header is a wrong signature, not a TypeError
        return hmac.compare_digest(signature(secret, timestamp, body).encode(), given.encode("ascii"))
    except UnicodeEncodeError:
        return False
