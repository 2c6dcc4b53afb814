"""Addresses where a person lives: a block number (丁目・番地・号, 1-2-3, kanji numerals) led by
place names, optionally a building and room — and not a venue's or an office's address."""

from __future__ import annotations

import re
from collections.abc import Iterator

from handlers.pii.contacts import org_line

Span = tuple[int, int, str]

_N = "[0-9〇一二三四五六七八九十百]"
_BLOCK = re.compile(
    rf"(?:{_N}+丁目(?=\s*(?:在住|に住|にお住|の自宅|のアパート|のマンション|の実家))"  # 中野5丁目在住
    rf"|{_N}+丁目\s*{_N}+(?:番地?|-)\s*(?:{_N}+(?:号|-\s*{_N}+)?)?"     # 3丁目12番5号 / 1丁目26-23
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


_HIRAGANA = re.compile(r"[\u3041-\u3096]")


def _kana_in_place(folded: str, i: int) -> int:
    """Where a hiragana run ending at i starts, if it is part of a place name (松が丘,
    さいたま市, つつじヶ丘): followed by a place character, not a particle's run. Else i."""
    j = i
    while j > 0 and _HIRAGANA.match(folded[j - 1]) and i - j < 5:
        j -= 1
    run = folded[j:i]
    if not run or i >= len(folded) or not _PLACE_CHAR.match(folded[i]):
        return i
    if run == "が" and j > 0 and _PLACE_CHAR.match(folded[j - 1]):
        return j
    if len(run) >= 2 and folded[i] in "市区町村ヶケ丘台野" and (j == 0 or not _HIRAGANA.match(folded[j - 1])) \
            and run not in ("には", "では", "から", "まで", "より", "との", "への"):
        return j
    return i


def _start_of_place(folded: str, end: int) -> int:
    """Walk back over place-name characters (and の inside a name, as in 日の出町)."""
    i = end
    while i > 0:
        ch = folded[i - 1]
        if _PLACE_CHAR.match(ch) or ch in "ヶケ":
            i -= 1
        elif _HIRAGANA.match(ch) and _kana_in_place(folded, i) < i:
            i = _kana_in_place(folded, i)
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


# Addresses in Latin letters: 2-11-6 Honcho, Nakano-ku, Tokyo / Room 405, Sunny Court, 1-5-10 …
_ROMAJI_ADDRESS = re.compile(
    r"(?:(?:Room|Apt\.?|Apartment|#)\s*\d{1,4},?\s*)?(?:[A-Z][A-Za-z]+(?:\s[A-Z][A-Za-z]+)*,\s*)?"
    r"(?:[A-Z][A-Za-z]+\s+)?\d{1,4}(?:-\d{1,4}){1,3}"
    r"(?:,?\s+[A-Z][A-Za-z]+(?:[- ](?:ku|KU|shi|SHI|cho|machi|gun|City|Ward|Town|Village|Prefecture|ken))?){1,4}")
_ROMAJI_AREA = re.compile(r"-(?:ku|shi|cho|machi|gun)\b|\b(?:City|Ward|Town|Village|Prefecture|Tokyo|Osaka)\b",
                          re.I)
_ROMAJI_VENUE = re.compile(r"\b(?:Office|Hall|Cent(?:er|re)|Library|School|Hospital|Station|Museum|"
                           r"Association|Gymnasium|Clinic|Headquarters|Branch|Park|Shelter)\b", re.I)


def _romaji_addresses(folded: str) -> Iterator[Span]:
    for match in _ROMAJI_ADDRESS.finditer(folded):
        value = match.group(0)
        if not _ROMAJI_AREA.search(value):
            continue
        before = folded[max(0, match.start() - 40):match.start()]
        if _ROMAJI_VENUE.search(before) or _ROMAJI_VENUE.search(value):
            continue
        yield match.start(), match.end(), "ADDRESS"


def addresses(folded: str) -> Iterator[Span]:
    yield from _building_rooms(folded)
    yield from _romaji_addresses(folded)
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
        if org_line(folded, start):
            continue
        block = match.group(0)
        if re.fullmatch(r"\d+-\d+(?:-\d+)?", block) and (
                block.startswith("0") or name.endswith(("電話", "携帯", "TEL", "FAX", "番号", "内線"))):
            continue
        if re.fullmatch(r"\d+-\d+(?:-\d+)?", block) and not (
                _ADMIN.search(name) or len(name) >= 2):
            continue
        yield start, end, "ADDRESS"
