"""Japanese-aware index terms: SudachiPy normalised forms (申し込み = 申込, full/half width)
plus bigrams of readings, so a question typed in kana (てんにゅう) finds 転入."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from handlers.japanese import tokenizer

_CONTENT = ("名詞", "動詞", "形容詞", "形状詞", "副詞", "接頭辞")
_SKIP_SUB = ("数詞",)
_KANA_RUN = re.compile(r"[\u3041-\u3096\u30a1-\u30faー]{2,}")



def to_katakana(text: str) -> str:
    return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in text)


def _bigrams(reading: str) -> list[str]:
    reading = reading.replace("ー", "")
    return ["~" + reading[i:i + 2] for i in range(len(reading) - 1)] if len(reading) > 1 else []


@lru_cache(maxsize=1)
def _mode():
    from sudachipy import tokenizer

    return tokenizer.Tokenizer.SplitMode.A


def terms(text: str) -> list[str]:
    """Index terms of a text (repeats kept: they are term frequencies)."""
    text = unicodedata.normalize("NFKC", text)[:20000]
    out: list[str] = []
    for morpheme in tokenizer().tokenize(text, _mode()):
        pos = morpheme.part_of_speech()
        if pos[0] not in _CONTENT:
            continue
        form = morpheme.normalized_form().lower()
        if pos[1] in _SKIP_SUB and not form.isdigit():
            continue
        out.append(form)
        if pos[0] == "名詞" and not form.isdigit():
            out.extend(_bigrams(morpheme.reading_form()))
    return out


def query_terms(text: str) -> list[str]:
    """Terms of a question: like `terms`, plus reading bigrams of any run typed in kana."""
    found = terms(text)
    for run in _KANA_RUN.findall(unicodedata.normalize("NFKC", text)):
        found.extend(_bigrams(to_katakana(run)))
    return found
