"""Birth dates: a date in any common Japanese format (西暦, 和暦, S45.3.2, kanji numerals)
counts only where the text says it is someone's birth (生, 生年月日, 誕生日, a 生年月日 column)."""

from __future__ import annotations

import re
from collections.abc import Iterator

Span = tuple[int, int, str]

_K = "[0-9〇一二三四五六七八九十元]"
_DATE = re.compile(
    r"(?<![0-9])(?:"
    rf"(?:明治|大正|昭和|平成|令和)\s*{_K}{{1,3}}\s*年\s*{_K}{{1,3}}\s*月\s*{_K}{{1,3}}\s*日"
    r"|(?:19|20)\d{2}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日"
    r"|(?:19|20)\d{2}[/.-]\d{1,2}[/.-]\d{1,2}"
    r"|[MTSHR]\s?\d{1,2}[/.-]\d{1,2}[/.-]\d{1,2}"
    r")(?![0-9])")
_BIRTH_AFTER = re.compile(r"^\s*(?:生|生まれ|うまれ|出生)")
_BIRTH_BEFORE = ("生年月日", "誕生日", "生まれ", "出生日", "DOB", "Date of birth", "date of birth")
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
