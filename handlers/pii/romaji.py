"""Names written in Latin letters (Sato, KOBAYASHI Ren, Mio Kato): a word is read as Hepburn
romaji, turned into katakana and looked up in SudachiPy's person-name dictionary, so the
detector knows the same surnames and given names in both scripts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from handlers.japanese import tokenizer

Span = tuple[int, int, str]

_VOWELS = "aiueo"
_ROWS = {"": "アイウエオ", "k": "カキクケコ", "g": "ガギグゲゴ", "s": "サシスセソ", "z": "ザジズゼゾ",
         "t": "タチツテト", "d": "ダヂヅデド", "n": "ナニヌネノ", "h": "ハヒフヘホ", "b": "バビブベボ",
         "p": "パピプペポ", "m": "マミムメモ", "y": "ヤイユエヨ", "r": "ラリルレロ", "w": "ワイウエヲ"}
_SPECIAL = {"shi": "シ", "chi": "チ", "tsu": "ツ", "fu": "フ", "ji": "ジ", "si": "シ", "ti": "チ",
            "tu": "ツ", "hu": "フ", "zi": "ジ", "di": "ヂ", "du": "ヅ"}
_YOON = {"ky": "キ", "gy": "ギ", "sh": "シ", "j": "ジ", "ch": "チ", "ny": "ニ", "hy": "ヒ",
         "by": "ビ", "py": "ピ", "my": "ミ", "ry": "リ", "zy": "ジ", "jy": "ジ"}
_SMALL = {"a": "ャ", "u": "ュ", "o": "ョ", "e": "ェ"}
_SYLLABLE = re.compile(r"shi|chi|tsu|ji|fu|(?:ky|gy|sh|ch|ny|hy|by|py|my|ry|jy|zy|j)[auoe]|"
                       r"[kgsztdnhbpmyrwf]?[aiueo]|n(?![aiueoy])|m(?=[bpm])|([kstpgdbc])(?=\1)|"
                       r"(?<=o)h(?![aiueoy])")


@lru_cache(maxsize=4096)
def to_katakana(word: str) -> str | None:
    """Hepburn romaji to katakana, or None when the word is not romaji (Dear, City, Hall)."""
    word = word.lower()
    out, i = [], 0
    while i < len(word):
        match = _SYLLABLE.match(word, i)
        if not match:
            return None
        part = match.group(0)
        i = match.end()
        if part in _SPECIAL:
            out.append(_SPECIAL[part])
        elif part == "n" or part == "m":
            out.append("ン")
        elif part == "h":
            out.append("ウ")  # Ohno, Ohashi: a long o
        elif len(part) == 1 and part not in _VOWELS:
            out.append("ッ")
        elif part[:-1] in _YOON:
            out.append(_YOON[part[:-1]] + ("" if part[:-1] in ("j", "sh", "ch") and part[-1] == "i"
                                           else _SMALL.get(part[-1], "")))
        elif part[:-1] == "f":
            out.append("フ" + {"a": "ァ", "i": "ィ", "e": "ェ", "o": "ォ", "u": ""}[part[-1]])
        else:
            out.append(_ROWS[part[:-1]][_VOWELS.index(part[-1])])
    return "".join(out)


@lru_cache(maxsize=4096)
def name_kind(word: str) -> str | None:
    """'姓' / '名' / '一般' when the word, read as romaji, is one name in the dictionary."""
    kana = to_katakana(word)
    if not kana or len(kana) < 2:
        return None
    # Hepburn drops long vowels (Sato is サトウ, Kyoko キョウコ, Yuko ユウコ): try them back.
    long_o = [i + 1 for i, ch in enumerate(kana) if ch in _O_OR_U]
    variants = {kana}
    for cut in long_o[:1] + long_o[-1:]:
        variants.add(kana[:cut] + "ウ" + kana[cut:])
    if len(long_o) >= 2:
        variants.add("".join(ch + ("ウ" if ch in _O_OR_U else "") for ch in kana))
    best = None
    for variant in variants:
        tokens = tokenizer().tokenize(variant)
        if len(tokens) == 1:
            pos = tokens[0].part_of_speech()
            if pos[1] == "固有名詞" and pos[2] == "人名":
                kind = pos[3] if pos[3] in ("姓", "名") else "一般"
                if best is None or _RANK[kind] < _RANK[best]:
                    best = kind
    return best


_O_OR_U = set("オコゴソゾトドノホボポモヨョロュユウクグスズツヌフブプムル")
_RANK = {"姓": 0, "名": 1, "一般": 2}


_WORD = r"[A-Z][A-Za-z'-]+|[A-Z]{2,}"
_PAIR = re.compile(rf"(?<![A-Za-z@.])({_WORD})[ \u3000]+({_WORD})(?:[ \u3000]+({_WORD}))?(?![A-Za-z@])")
_TITLES = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Professor)\.?"
_TITLE = re.compile(rf"\b(?:Dear(?:[ \u3000]+{_TITLES})?|{_TITLES})[ \u3000]+"
                    rf"((?:{_WORD})(?:[ \u3000]+(?:{_WORD})){{0,2}})")
_NAME_WORDS = r"([A-Za-z][A-Za-z'-]+(?:[ \u3000,]+[A-Za-z][A-Za-z'-]+){0,2})"
# A label needs its colon ("From: …", not "from December"); a sign-off its comma or line.
_LABEL = re.compile(
    r"(?:\b(?:Name|Full name|Applicant|Contact|Contact person|Sender|From|To|Attn|Attention|"
    r"Signed|Representative|Guardian|Parent|Account holder|Account name|Holder|Payee|Tenant|"
    r"Resident|Reporter|Prepared by|Submitted by|Requested by|Written by|c/o)"
    r"|申請者|名義|氏名|差出人|送信者|宛先|担当者?|署名)[ \u3000]*[:：][ \u3000]*" + _NAME_WORDS
    + r"|\b(?:Yours sincerely|Yours faithfully|Sincerely|Best regards|Kind regards|Regards|"
    r"Respectfully|Best wishes)[ \u3000]*[,，]?[ \u3000]*\n[ \u3000]*" + _NAME_WORDS
    + r"|\b(?:Yours sincerely|Sincerely|Best regards|Kind regards|Regards)[ \u3000]*[,，][ \u3000]*"
    + _NAME_WORDS, re.I)
# Self-introductions and family in English sentences; -san/-sama after a name; a Latin-letter
# name before です/から/より in Japanese text.
_INTRO = re.compile(
    r"\b(?:[Mm]y name is|I am|I'm|[Tt]his is|(?:[Mm]y|[Hh]is|[Hh]er|[Tt]heir) (?:daughter|son|wife|"
    r"husband|mother|father|child|children|name's)(?: is)?|[Cc]alled|[Nn]amed|"
    r"(?:[Tt]he )?(?:applicant|resident|caller|tenant|guardian|patient|client)(?: is| was|,))[ \u3000]+"
    rf"((?:{_WORD})(?:[ \u3000]+(?:{_WORD})){{0,2}})")
# A name opening a sentence, followed by what people do on the phone or at the counter.
_ACTOR = re.compile(rf"(?:^|(?<=[.!?。\n]\s)|(?<=[.!?。\n]))[ \u3000]*((?:{_WORD})(?:[ \u3000]+(?:{_WORD}))?)"
                    r"(?=[ \u3000]+(?:called|phoned|emailed|visited|came|wrote|asked|said|requested)\b)")
_SAN = re.compile(rf"((?:{_WORD})(?:[ \u3000]+(?:{_WORD})){{0,2}})-(?:san|sama|kun|chan|sensei)\b")
_BEFORE_JA = re.compile(rf"((?:{_WORD})(?:[ \u3000]+(?:{_WORD})){{0,2}})(?=[ \u3000]*(?:です|から|より|と申します|でした))")
# A signature dash at the very end of a message ("… – Emily"), not a bulleted list.
_SIGN_DASH = re.compile(rf"[-–—][ \u3000]*((?:{_WORD})(?:[ \u3000]+(?:{_WORD})){{0,2}})[ \u3000.!]*$")
_BEFORE_CONTACT = re.compile(rf"((?:{_WORD})(?:[ \u3000]+(?:{_WORD})){{1,2}})[ \u3000]*[<(（][^>)）\s]*@")
_HONORIFIC = re.compile(rf"((?:{_WORD})(?:[ \u3000]+(?:{_WORD})){{0,2}})(?=[ \u3000]*(?:さん|様|氏|くん|ちゃん|殿|先生))")
NOT_NAMES = {"sir", "madam", "madame", "all", "resident", "residents", "customer", "customers",
              "colleague", "colleagues", "staff", "team", "member", "members", "friends", "city",
              "ward", "office", "department", "the", "a", "an", "our", "your", "my", "we", "us",
              "you", "i", "it", "this", "that", "and", "or", "of", "for", "in", "on", "at", "by",
              "with", "to", "from", "is", "are", "was", "be", "please", "tel", "phone", "fax",
              "email", "e-mail", "mail", "address", "date", "name", "number", "no", "applicant",
              "hall", "center", "centre", "japan", "tokyo", "osaka", "kyoto", "kobe", "station",
              "prefecture", "town", "village", "mayor", "manager", "director", "chief", "mr", "mrs",
              "ms", "miss", "mx", "dr", "prof", "professor", "dear", "sincerely", "regards",
              "january", "february", "march", "april", "may", "june", "july", "august",
              "september", "october", "november", "december", "monday", "tuesday", "wednesday",
              "thursday", "friday", "saturday", "sunday", "thanks", "thank", "hi", "hello", "hey",
              "re", "fw", "fwd", "subject", "cc"}


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Drop leading and trailing words that are not names (Dear, the, City…)."""
    words = [(m.start(), m.end()) for m in re.finditer(r"[A-Za-z'-]+", text[start:end])]
    while words and text[start + words[0][0]:start + words[0][1]].lower() in NOT_NAMES:
        words.pop(0)
    while words and text[start + words[-1][0]:start + words[-1][1]].lower() in NOT_NAMES:
        words.pop()
    if not words:
        return None
    return start + words[0][0], start + words[-1][1]


def _capitalised(word: str) -> bool:
    return word[:1].isupper()


def names(text: str) -> Iterator[Span]:
    if not re.search(r"[A-Za-z]{2}", text):
        return
    for pattern in (_TITLE, _LABEL, _BEFORE_CONTACT, _HONORIFIC, _INTRO, _SAN, _BEFORE_JA,
                    _SIGN_DASH, _ACTOR):
        for match in pattern.finditer(text):
            group = next(i for i in range(1, (match.lastindex or 1) + 1) if match.group(i))
            words = match.group(group).replace(",", " ").split()
            if pattern is _LABEL and not (any(name_kind(w) for w in words)
                                          or all(_capitalised(w) for w in words)):
                continue  # after "From:" an ordinary lower-case phrase is no name
            if pattern in (_BEFORE_JA, _INTRO, _SIGN_DASH, _ACTOR) and \
                    any(w.lower() in NOT_NAMES for w in words):
                continue  # This is Nakano City Office / Tokyoから: a place or an organisation
            if pattern is _BEFORE_JA and not any(name_kind(w) for w in words):
                continue  # Slackから, Kintoneです: a product, not a person
            span = _trim(text, match.start(group), match.end(group))
            if span:
                yield span[0], span[1], "PERSON"
    # Two or three capitalised words, read as Japanese romaji, at least one a known name:
    # KOBAYASHI Ren, Hiroshi Yamamoto. Place words (Tokyo, Minato City) are not names.
    for match in _PAIR.finditer(text):
        words = [w for w in match.groups() if w]
        kinds = [name_kind(w) for w in words]
        if any(w.lower() in NOT_NAMES for w in words):
            continue
        if all(to_katakana(w) for w in words) and any(kinds) and \
                (sum(1 for k in kinds if k) >= 2 or any(w.isupper() and len(w) > 1 for w in words)
                 or any(k == "姓" for k in kinds)):
            yield match.start(), match.end(), "PERSON"
