"""The rule: does a report call for a safety-confirmation broadcast, and what does it say?"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.jma.report import Report, parse_time

ORDER = ["1", "2", "3", "4", "5-", "5+", "6-", "6+", "7"]
LABELS = {"1": "1", "2": "2", "3": "3", "4": "4", "5-": "5弱", "5+": "5強", "6-": "6弱",
          "6+": "6強", "7": "7"}
_ALIASES = {"5弱": "5-", "5強": "5+", "6弱": "6-", "6強": "6+"}


def level(value: str | None) -> int:
    value = _ALIASES.get(unicodedata.normalize("NFKC", value or "").strip(), (value or "").strip())
    return ORDER.index(value) if value in ORDER else -1


def label(value: str) -> str:
    return "震度" + LABELS.get(value, value)


@dataclass(frozen=True)
class Areas:
    """Configured areas: names as staff write them (品川区 matches 東京品川区) or JMA codes."""

    entries: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Areas:
        return cls(tuple(unicodedata.normalize("NFKC", a).strip()
                         for a in text.replace("、", ",").split(",") if a.strip()))

    def matches(self, name: str, code: str) -> bool:
        name = unicodedata.normalize("NFKC", name)
        for entry in self.entries:
            if entry.isdigit():
                if entry == code:
                    return True
            elif name and (name == entry or name.endswith(entry) or entry.endswith(name)
                           and len(name) >= 3):
                return True
        return False


@dataclass(frozen=True)
class Match:
    max_int: str
    places: tuple[str, ...]  # "東京品川区 震度5弱"


def match(report: Report, areas: Areas) -> Match | None:
    """The strongest intensity in a configured prefecture, area or city."""
    best, places = -1, []
    for item in report.areas:
        hit = (areas.matches(item.city, item.city_code) or areas.matches(item.area, item.area_code)
               or areas.matches(item.pref, item.pref_code))
        if not hit or level(item.max_int) < 0:
            continue
        places.append(f"{item.city or item.area or item.pref} {label(item.max_int)}")
        best = max(best, level(item.max_int))
    return Match(ORDER[best], tuple(dict.fromkeys(places))) if best >= 0 else None


def notice_text(report: Report, found: Match, tz: str, drill: bool) -> str:
    when = parse_time(report.origin_time) or parse_time(report.report_time)
    stamp = when.astimezone(ZoneInfo(tz)).strftime("%m月%d日 %H時%M分") if when else "先ほど"
    lines = [f"{'【訓練】' if drill else ''}【地震・安否確認】{stamp}ごろ、地震がありました。"]
    if report.epicentre:
        lines.append(f"震源: {report.epicentre}" + (f"（M{report.magnitude}）" if report.magnitude else ""))
    lines.append("観測した震度: " + "、".join(found.places[:8]))
    lines.append("身の安全を確保してから回答してください。")
    return "\n".join(lines)


def cancel_text(report: Report) -> str:
    return ("【取消】先ほどお送りした地震の安否確認は、気象庁が情報を取り消したため取り消します。"
            f"（地震 ID {report.event_id}）回答は不要です。")


def suppressed(last: datetime | None, now: datetime, hours: float) -> bool:
    return last is not None and (now - last).total_seconds() < hours * 3600


def strongest(values: Iterable[str]) -> str | None:
    ordered = sorted((v for v in values if level(v) >= 0), key=level)
    return ordered[-1] if ordered else None
