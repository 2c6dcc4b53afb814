"""Birth dates: a date in any common Japanese format (西暦, 和暦, S45.3.2, kanji numerals)
counts only where the text says it is someone's birth (生, 生年月日, 誕生日, a 生年月日 column)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

Span = tuple[int, int, str]

_K = "[0-9〇一二三四五六七八九十元]"
_MONTHS = r"(?:January|February|March|April|May|June|July|August|September|October|November|December|" \
          r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
_DATE = re.compile(
    r"(?<![0-9])(?:"
    rf"(?:明治|大正|昭和|平成|令和)\s*{_K}{{1,3}}\s*年\s*{_K}{{1,3}}\s*月\s*{_K}{{1,3}}\s*日"
    r"|(?:19|20)\d{2}\s*年\s*(?:[（(][^）)]{2,8}[）)]\s*)?\d{1,2}\s*月\s*\d{1,2}\s*日"
    rf"|{_MONTHS}\s+\d{{1,2}},?\s+(?:19|20)\d{{2}}"                       # March 3, 2023
    rf"|\d{{1,2}}\s+{_MONTHS}\s+(?:19|20)\d{{2}}"                          # 3 March 2023
    r"|(?:0?[1-9]|[12]\d|3[01])/(?:0?[1-9]|1[0-2])/(?:19|20)\d{2}"            # 14/09/1975
    r"|(?:19|20)\d{2}[/.-]\d{1,2}[/.-]\d{1,2}"
    r"|[MTSHR]\s?\d{1,2}[/.-]\d{1,2}[/.-]\d{1,2}"
    r")(?![0-9])")
_BIRTH_AFTER = re.compile(r"^\s*(?:生|生まれ|うまれ|出生)")
_BIRTH_BEFORE = ("生年月日", "誕生日", "生まれ", "出生日", "DOB", "D.O.B", "Date of birth",
                 "date of birth", "Birth", "birth", "born", "Born")
_NOT_BIRTH_BEFORE = ("施行", "開催", "締切", "期限", "付け", "予定", "から", "まで", "建設")


def _column_of(header: str, name: str) -> int | None:
    cells = [c.strip() for c in re.split(r"[,\t]", header)]
    return cells.index(name) if name in cells else None


def birth_dates(folded: str) -> Iterator[Span]:
    lines = folded.split("\n")
    birth_column: int | None = None
    offset = 0
    for line in lines:
        if "生年月日" in line and ("," in line or "\t" in line):
            birth_column = _column_of(line, "生年月日")
        for match in _DATE.finditer(line):
            start, end = offset + match.start(), offset + match.end()
            before = line[max(0, match.start() - 20):match.start()]
            after = line[match.end():match.end() + 4]
            if any(word in before[-6:] for word in _NOT_BIRTH_BEFORE):
                continue
            in_column = False
            if birth_column is not None and ("," in line or "\t" in line):
                cells = re.split(r"[,\t]", line)
                position = len(re.split(r"[,\t]", line[:match.start()])) - 1
                in_column = position == birth_column and len(cells) > birth_column
            if _BIRTH_AFTER.match(after) or any(w in before for w in _BIRTH_BEFORE) or in_column:
                yield start, end, "BIRTHDATE"
        offset += len(line) + 1


_ERAS = {"明治": 1867, "大正": 1911, "昭和": 1925, "平成": 1988, "令和": 2018,
         "M": 1867, "T": 1911, "S": 1925, "H": 1988, "R": 2018}


def _year(text: str) -> int | None:
    western = re.search(r"(?:19|20)\d{2}", text)
    if western:
        return int(western.group(0))
    era = re.match(r"(明治|大正|昭和|平成|令和|[MTSHR])\s?([0-9]{1,2}|元)", text)
    if era:
        number = 1 if era.group(2) == "元" else int(era.group(2))
        return _ERAS[era.group(1)] + number
    return None

_NOT_BIRTH_AFTER = re.compile(r"^\s*(?:付|に|から|まで|開催|予定|締切|期限|受付|申請|提出|発行|交付|更新|現在|時点|"
                              r"以降|以前|までに|入庁|採用|転入|転居|着任|退職|届出|登録|異動|死亡|受診|来庁|訪問)")


def record_dates(folded: str) -> Iterator[tuple[int, int]]:
    """Dates set in a person's record (佐々木 健一 / 1982/09/14 / 090-…, 千葉 真一郎（1960.1.1））
    with no 生 or 生年月日: candidates, which the guard keeps only on a line naming a person
    together with their contact data or right after the name."""
    offset = 0
    for line in folded.split("\n"):
        for match in _DATE.finditer(line):
            before = line[max(0, match.start() - 6):match.start()]
            after = line[match.end():match.end() + 6]
            if any(word in line[max(0, match.start() - 8):match.start()] for word in _NOT_BIRTH_BEFORE) \
                    or _NOT_BIRTH_AFTER.match(after):
                continue
            if not before.rstrip().endswith(("（", "(", "/", "／", ",", "、", "|", "｜", '"')):
                continue  # (a date after a space is as often a visit in a case record)
            year = _year(match.group(0))
            if year is None or not 1900 <= year <= date.today().year - 1:
                continue  # this year's date next to a name is a visit or a deadline
            yield offset + match.start(), offset + match.end()
        offset += len(line) + 1
