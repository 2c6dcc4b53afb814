"""A same-length normalised view of text, so patterns match any width and any dash while
offsets still point into the original."""

from __future__ import annotations

import unicodedata

_DASHES = "‐‑‒–—―−－─━"
_LONG_VOWELS = "ーｰ"  # a dash between digits (090ー1234), a long vowel after kana (ナンバー)
_KANJI_DIGITS = {"〇": "0", "○": "0", "一": "1", "二": "2", "三": "3", "四": "4", "五": "5",
                 "六": "6", "七": "7", "八": "8", "九": "9"}


def _char(ch: str) -> str:
    if ch in _DASHES:
        return "-"
    if ch == "\u3000":
        return " "
    folded = unicodedata.normalize("NFKC", ch)
    return folded if len(folded) == 1 else ch


def fold(text: str) -> str:
    """Full-width to ASCII, every dash to '-', ideographic space to ' '; length kept. The
    long-vowel mark is a dash only after a digit: マイナンバー123… keeps its ー."""
    out = []
    for ch in text:
        if ch in _LONG_VOWELS:
            previous = out[-1] if out else ""
            out.append("-" if previous.isdigit() or previous in _KANJI_DIGITS else ch)
        else:
            out.append(_char(ch))
    return "".join(out)


def digits_view(folded: str) -> str:
    """`fold` plus kanji numerals read as digits (phone numbers read aloud: 〇九〇…)."""
    return "".join(_KANJI_DIGITS.get(ch, ch) for ch in folded)


def only_digits(text: str) -> str:
    return "".join(ch for ch in digits_view(fold(text)) if ch.isdigit())
