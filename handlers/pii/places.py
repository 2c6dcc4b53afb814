"""Addresses where a person lives: a block number (丁目・番地・号, 1-2-3, kanji numerals) led by
place names, optionally a building and room — and not a venue's or an office's address."""

from __future__ import annotations

import re
from collections.abc import Iterator

Span = tuple[int, int, str]

_N = "[0-9〇一二三四五六七八九十百]"
_BLOCK = re.compile(
    rf"(?:{_N}+丁目\s*{_N}+(?:番地?|-)\s*(?:{_N}+(?:号|-\s*{_N}+)?)?"     # 3丁目12番5号 / 1丁目26-23
    rf"|{_N}+丁目\s*{_N}+"                                                 # 3丁目12
    rf"|{_N}+番地\s*{_N}*(?:号)?"                                          # 12番地 / 1044番地1
    rf"|{_N}+番\s*{_N}+号"                                                 # 7番5号
    r"|\d+-\d+(?:-\d+)?)")                                                 # 6-24-13
_ROOM = re.compile(r"^\s*(?:[^\s、。,，（）()]{1,16}?)?\s*\d{1,4}(?:号室|号)?(?=[^\d]|$)")
_BUILDING_WORDS = ("荘", "ハイツ", "コーポ", "マンション", "アパート", "レジデンス", "メゾン",
                   "パレス", "ヒルズ", "ビル", "タワー", "団地", "住宅", "寮", "棟", "号室")
_PLACE_CHAR = re.compile(r"[\u4e00-\u9fff\u30a0-\u30ffヶケ々〇]")
_VENUE_BEFORE = ("会場", "所在地", "公民館", "図書館", "センター", "庁舎", "役所", "役場", "学校",
                 "施設", "本社", "事務所", "支店", "病院", "会館", "体育館", "ホール", "交差点",
                 "工事", "地区", "付近", "周辺")
_VENUE_AFTER = ("交差点", "地区", "付近", "周辺", "の市有地", "の土地", "会場")
_ADMIN = re.compile(r"(?:都|道|府|県|市|区|町|村|郡)")


def _start_of_place(folded: str, end: int) -> int:
    """Walk back over place-name characters (and の inside a name, as in 日の出町)."""
    i = end
    while i > 0:
        ch = folded[i - 1]
        if _PLACE_CHAR.match(ch) or ch in "ヶケ":
            i -= 1
        elif ch == "の" and i - 2 >= 0 and _PLACE_CHAR.match(folded[i - 2]) and i < end \
                and _PLACE_CHAR.match(folded[i]) and not _ADMIN.match(folded[i - 2]):
            i -= 1
        else:
            break
    return i


_NAME_CHARS = r"[\u30a1-\u30faー\u4e00-\u9fff々A-Za-z]"
# A home given as only a building and a room (グリーンコーポ3階302号, 桜荘 2-105号室).
_BUILDING_ROOM = re.compile(
    rf"{_NAME_CHARS}{{0,12}}(?:荘|ハイツ|コーポ|マンション|アパート|レジデンス|メゾン|パレス|ヒルズ|"
    rf"ハウス|コート|テラス|ガーデン|団地|住宅|寮|シャトー|カーサ|グランド){_NAME_CHARS}{{0,8}}"
    r"\s*(?:[A-Z]棟|\d{1,2}号棟|\d{1,2}棟)?\s*(?:\d{1,2}階)?\s*(?:\d{1,2}-)?\d{1,4}号室?")


def _building_rooms(folded: str) -> Iterator[Span]:
    for match in _BUILDING_ROOM.finditer(folded):
        before = folded[max(0, match.start() - 12):match.start()]
        if any(w in before for w in _VENUE_BEFORE) or "市営" in match.group(0)[:4] and "号室" not in match.group(0):
            continue
        yield match.start(), match.end(), "ADDRESS"


def addresses(folded: str) -> Iterator[Span]:
    yield from _building_rooms(folded)
    for match in _BLOCK.finditer(folded):
        start = _start_of_place(folded, match.start())
        name = folded[start:match.start()]
        if not name or len(name) > 30:
            continue
        if re.fullmatch(r"[\d〇一二三四五六七八九十]+", name):
            continue
        # An address needs place names before the block, not a lone word like 第 or 条.
        if len(name) == 1 and not _ADMIN.match(name):
            continue
        end = match.end()
        room = _ROOM.match(folded[end:end + 24])
        if room and any(w in room.group(0) for w in _BUILDING_WORDS) or \
                (room and re.search(r"\d+号室$", room.group(0))):
            end += room.end()
        before = folded[max(0, start - 12):start]
        after = folded[end:end + 6]
        if any(w in before for w in _VENUE_BEFORE) or any(after.startswith(w) for w in _VENUE_AFTER):
            continue
        if any(w in name for w in ("役所", "役場", "庁舎", "センター", "公民館", "会館")):
            continue
        block = match.group(0)
        if re.fullmatch(r"\d+-\d+(?:-\d+)?", block) and (
                block.startswith("0") or name.endswith(("電話", "携帯", "TEL", "FAX", "番号", "内線"))):
            continue
        if re.fullmatch(r"\d+-\d+(?:-\d+)?", block) and not (
                _ADMIN.search(name) or len(name) >= 2):
            continue
        yield start, end, "ADDRESS"
