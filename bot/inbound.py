"""What every inbound request passes before anything is recorded: strict JSON (one object,
bounded depth, no lone surrogates), signatures compared safely whatever bytes a header holds,
and each refusal logged with its reason (never its payload) and counted in /metrics by reason,
so an operator sees an attack."""

from __future__ import annotations

import hmac
import json
import logging
import re
from typing import Any

from aiohttp import web

from handlers.messages import BadInput

log = logging.getLogger("bot.refused")

MAX_DEPTH = 32  # platforms send a few levels; thousands is an attack on the parser
MAX_FIELD = 128 * 1024  # characters in any one string of an inbound JSON body


def _depth_ok(text: str) -> bool:
    """Nesting of [ and { outside strings stays within MAX_DEPTH (checked before parsing, so a
    deep body never reaches the recursive parser)."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def check_strings(value: Any) -> None:
    """Every string in a parsed body is real text of a bounded size."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if has_surrogate(item):
                raise BadInput("文字コードが正しくない文字が含まれています。")
            if len(item) > MAX_FIELD:
                raise TooLarge("項目が長すぎます。")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# A lone surrogate can only come from a \\uD800–\\uDFFF escape (possibly URL-encoded, as in
# Slack's form bodies); a field over MAX_FIELD only from a body that large. Bodies with neither
# skip the walk over every parsed value (the click path of a 10,000-person broadcast).
_SURROGATE_ESCAPE = re.compile(r"(?:\\|%5[cC])[uU][dD][89a-fA-F]")


def may_hold_poison(raw: str) -> bool:
    if len(raw) > MAX_FIELD:
        return True
    if "\\" not in raw and "%5C" not in raw and "%5c" not in raw:
        return False  # no escape at all: the common case, found by a plain substring search
    return bool(_SURROGATE_ESCAPE.search(raw))


class TooLarge(BadInput):
    """A field over MAX_FIELD: answered 413."""


def strict_json(body: bytes | str) -> Any:
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise BadInput("UTF-8 の JSON を送ってください。") from None
    if not _depth_ok(text):
        raise BadInput("JSON の入れ子が深すぎます。")
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, RecursionError):
        raise BadInput("JSON の形式が正しくありません。") from None
    check_strings(data)
    return data


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return value


def json_object(body: bytes | str) -> dict[str, Any]:
    """An inbound body that must be one JSON object; BadInput says what was wrong otherwise."""
    data = strict_json(body)
    if not isinstance(data, dict):
        raise BadInput("JSON オブジェクトを送ってください。")
    return data


def same_signature(expected: str, given: str) -> bool:
    """compare_digest refuses non-ASCII str with a TypeError: such a header is simply wrong."""
    try:
        return hmac.compare_digest(expected.encode("ascii"), given.encode("ascii"))
    except UnicodeEncodeError:
        return False


def count(request: web.Request, reason: str) -> None:
    from bot.app import RUNTIME

    route = request.match_info.route.resource.canonical if request.match_info.route.resource \
        else request.path[:40]
    log.warning("refused %s %s: %s", request.method, route, reason)
    runtime = request.app.get(RUNTIME)
    if runtime is not None:
        runtime.metrics.refused.labels(reason).inc()


def refuse(request: web.Request, status: int, reason: str, message: str) -> web.Response:
    """A clean 4xx with a Japanese message; the reason is logged and counted, nothing stored."""
    count(request, reason)
    return web.json_response({"error": message}, status=status)


def refuse_bad_input(request: web.Request, exc: BadInput) -> web.Response:
    if isinstance(exc, TooLarge):
        return refuse(request, 413, "too_large", str(exc))
    return refuse(request, 400, "poison_input", str(exc))
