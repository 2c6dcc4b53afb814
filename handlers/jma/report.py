"""Parsing JMA XML safely: defusedxml refuses entity expansion and external entities."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MAX_BYTES = 2_000_000
ATOM = "{http://www.w3.org/2005/Atom}"
_LOCAL = re.compile(r"^\{[^}]*\}")


class ReportError(ValueError):
    """A feed or report that is malformed, hostile or not what we read."""


@dataclass(frozen=True)
class FeedEntry:
    id: str
    title: str
    updated: str
    link: str

    @property
    def kind(self) -> str | None:
        match = re.search(r"(VXSE5[13])", self.link)
        return match.group(1) if match else None


@dataclass(frozen=True)
class AreaIntensity:
    pref: str
    pref_code: str
    area: str
    area_code: str
    city: str
    city_code: str
    max_int: str


@dataclass(frozen=True)
class Report:
    kind: str  # VXSE51 or VXSE53
    title: str
    status: str  # 通常, 訓練, 試験
    event_id: str
    serial: int
    info_type: str  # 発表, 訂正, 取消
    report_time: str
    origin_time: str | None
    epicentre: str | None
    magnitude: str | None
    max_int: str | None
    areas: list[AreaIntensity] = field(default_factory=list)


def _parse(data: bytes):
    if len(data) > MAX_BYTES:
        raise ReportError("document too large")
    try:
        return fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ReportError(f"refused: {type(exc).__name__}") from None
    except Exception as exc:  # ParseError and friends
        raise ReportError(f"malformed XML: {type(exc).__name__}") from None


def _strip(element) -> None:
    for node in element.iter():
        if isinstance(node.tag, str):
            node.tag = _LOCAL.sub("", node.tag)


def parse_feed(data: bytes) -> list[FeedEntry]:
    root = _parse(data)
    if root.tag != f"{ATOM}feed":
        raise ReportError("not an Atom feed")
    entries = []
    for entry in root.findall(f"{ATOM}entry"):
        link = entry.find(f"{ATOM}link")
        entries.append(FeedEntry(id=(entry.findtext(f"{ATOM}id") or "").strip(),
                                 title=(entry.findtext(f"{ATOM}title") or "").strip(),
                                 updated=(entry.findtext(f"{ATOM}updated") or "").strip(),
                                 link=(link.get("href") if link is not None else "") or ""))
    return entries


def _text(node, path: str) -> str | None:
    found = node.find(path) if node is not None else None
    return found.text.strip() if found is not None and found.text else None


def parse_report(data: bytes) -> Report:
    root = _parse(data)
    _strip(root)
    if root.tag != "Report":
        raise ReportError("not a JMA report")
    title = _text(root, "Control/Title") or ""
    info_kind = _text(root, "Head/InfoKind") or title
    kind = "VXSE53" if "震源・震度" in info_kind or "震源・震度" in title else \
        "VXSE51" if "震度速報" in info_kind or "震度速報" in title else ""
    if not kind:
        raise ReportError(f"unsupported report: {title}")
    event_id = _text(root, "Head/EventID")
    serial = _text(root, "Head/Serial")
    if not event_id:
        raise ReportError("report without EventID")
    areas = []
    for pref in root.findall("Body/Intensity/Observation/Pref"):
        for area in pref.findall("Area") or [None]:
            cities = area.findall("City") if area is not None else []
            for city in cities or [None]:
                node = city if city is not None else area if area is not None else pref
                areas.append(AreaIntensity(
                    pref=_text(pref, "Name") or "", pref_code=_text(pref, "Code") or "",
                    area=_text(area, "Name") or "", area_code=_text(area, "Code") or "",
                    city=_text(city, "Name") or "", city_code=_text(city, "Code") or "",
                    max_int=_text(node, "MaxInt") or ""))
    magnitude = root.find("Body/Earthquake/Magnitude")
    return Report(
        kind=kind, title=title, status=_text(root, "Control/Status") or "",
        event_id=event_id, serial=int(serial) if serial and serial.isdigit() else 0,
        info_type=_text(root, "Head/InfoType") or "", report_time=_text(root, "Head/ReportDateTime") or "",
        origin_time=_text(root, "Body/Earthquake/OriginTime"),
        epicentre=_text(root, "Body/Earthquake/Hypocenter/Area/Name"),
        magnitude=(magnitude.text.strip() if magnitude is not None and magnitude.text else None),
        max_int=_text(root, "Body/Intensity/Observation/MaxInt"), areas=areas)


def parse_time(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
