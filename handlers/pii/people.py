"""Names of people: SudachiPy's dictionary knows surnames and given names (人名,姓/名); a name
is a surname with a given name, or any name part next to an honorific or title (様, さん,
課長…), or what follows a label (氏名, 名義…). Names inside company, place and facility
names (田中工務店, 山田町, 中村区役所) are not people."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from handlers.japanese import tokenizer
from handlers.pii import romaji

Span = tuple[int, int, str]

HONORIFICS = ("様", "さま", "さん", "氏", "くん", "君", "ちゃん", "殿", "先生", "課長", "部長",
              "係長", "主任", "主査", "室長", "所長", "局長", "次長", "補佐", "参事", "主事",
              "社長", "会長", "議員", "委員", "教諭", "医師", "看護師", "保健師", "市長", "副市長",
              "区長", "町長", "村長", "知事", "副知事", "教育長", "理事", "監督", "選手",
              "弁護士", "司法書士", "行政書士", "税理士", "社会保険労務士", "教授", "准教授",
              "院長", "園長", "校長", "館長", "議長", "首相", "総理", "大臣", "長官", "市議",
              "区議", "県議", "都議", "宛", "殿", "外相", "法相", "財務相", "防衛相", "文科相", "厚労相",
              "経産相", "農相", "国交相", "環境相")
# Titles that are also the start of common words (方法, 君臨, 相談): only the whole token counts.
EXACT_TITLES = ("方", "君", "家")
LABELS = ("氏名", "名前", "お名前", "児童氏名", "保護者", "相談者", "申請者", "申込者", "差出人",
          "名義", "担当者", "担当", "通報者", "届出人", "世帯主", "本人", "妻", "夫", "長男",
          "長女", "次男", "次女", "父", "母")
_COMPANY = ("株式会社", "有限会社", "合同会社", "社団法人", "財団法人", "(株)", "（株）")
_PLACE_SUFFIXES = ("川", "山", "町", "村", "市", "区", "県", "駅", "橋", "池", "湖", "島", "谷",
                   "沢", "台", "丘", "通", "寺", "宮", "線", "港", "坂", "原", "野", "店", "館",
                   "園", "場", "所", "署", "庁", "局", "校", "堂", "城")
_ORG_ENDINGS = ("市", "区", "町", "村", "県", "都", "府", "道", "社", "会", "店", "館", "院", "園",
                "校", "所", "局", "署", "庁", "省", "部", "課", "係", "組", "団", "協会", "銀行")
_CONTACT_IN_BRACKETS = ("内線", "電話", "TEL", "Tel", "携帯", "直通", "担当", "メール", "ふりがな",
                        "CW", "SW", "保健師", "看護師", "主任", "係長", "課長", "学校", "ケアマネ",
                        "相談員", "支援員", "指導員", "社会福祉士", "民生委員", "教諭", "医師")
_PARTICLES = ("は", "が", "に", "の", "も", "と", "へ", "から", "より", "まで", "です", "さん")
_CLOSE_AFTER = ("です", "と申し", "と言い", "より", "から", "が", "は", "の", "に", "へ", "を", "と",
                "も", "（", "(", "、", ",", "。", " ", "\u3000", "\n", ")", "）", "：", ":")
class _Token:
    __slots__ = ("surface", "start", "end", "pos")

    def __init__(self, surface: str, start: int, end: int, pos: tuple[str, ...]) -> None:
        self.surface, self.start, self.end, self.pos = surface, start, end, pos

    @property
    def surname(self) -> bool:
        return self.pos[2:4] == ("人名", "姓")

    @property
    def given(self) -> bool:
        return self.pos[2:4] == ("人名", "名") or (self.pos[2] == "人名" and self.pos[3] == "一般")

    @property
    def name_part(self) -> bool:
        return self.pos[1] == "固有名詞" and self.pos[2] == "人名"

    @property
    def blank(self) -> bool:
        return not self.surface.strip()


_CHUNK = 3000  # Sudachi limits one input's size; long texts go in sentence-aligned pieces


def _tokens(text: str) -> list[_Token]:
    from sudachipy import SplitMode

    mode = SplitMode.C
    found: list[_Token] = []
    offset = 0
    while offset < len(text):
        end = min(len(text), offset + _CHUNK)
        if end < len(text):
            cut = max(text.rfind("。", offset, end), text.rfind("\n", offset, end))
            end = cut + 1 if cut > offset else end
        for m in tokenizer().tokenize(text[offset:end], mode):
            found.append(_Token(m.surface(), offset + m.begin(), offset + m.end(),
                                m.part_of_speech()))
        offset = end
    return found


def _given_like(token: _Token) -> bool:
    """A token that can be a given name after a surname (大和, ひなた, 実, ケン)."""
    if token.surface.startswith(HONORIFICS):
        return False
    if token.given:
        return True
    surface = token.surface
    if token.pos[1] == "固有名詞" and len(surface) <= 4:
        return True
    if re.fullmatch(r"[\u3041-\u3096]{2,4}|[\u30a1-\u30fa]{2,6}", surface):
        return token.pos[0] == "名詞"
    return bool(re.fullmatch(r"[\u4e00-\u9fff]{2,3}", surface)) and token.pos[0] == "名詞" \
        and token.pos[1] != "数詞" and not surface.endswith(_PLACE_SUFFIXES)


def _next_word(tokens: list[_Token], i: int) -> _Token | None:
    return tokens[i] if i < len(tokens) else None


def _ends_person(tokens: list[_Token], i: int, text: str) -> bool:
    """After a name ending before token i: a title, a particle or punctuation — not a
    company, place or facility suffix."""
    nxt = _next_word(tokens, i)
    if nxt is None:
        return True
    if nxt.surface.startswith(HONORIFICS):
        return True
    return nxt.surface.startswith(_CLOSE_AFTER) or nxt.pos[0] in ("助詞", "助動詞", "補助記号")


def people(text: str, gazetteer: Iterable[str] = ()) -> Iterator[Span]:
    tokens = _tokens(text)
    n = len(tokens)
    i = 0
    while i < n:
        token = tokens[i]
        previous = tokens[i - 1].surface if i else ""
        if previous in _COMPANY or previous.endswith(_COMPANY):
            i += 1
            continue
        if token.surname:
            j = i + 1
            if j < n and tokens[j].blank and len(tokens[j].surface) == 1:
                j += 1
            single = j < n and j > i + 1 and re.fullmatch(r"[\u4e00-\u9fff]", tokens[j].surface) \
                and (j + 1 == n or tokens[j + 1].surface in ("）", ")", "です", "、")
                     or _honorific_next(tokens, j + 1))
            if j < n and (_given_like(tokens[j]) or single) and _ends_person(tokens, j + 1, text) \
                    and not _common_word_start(token, tokens[j]):
                yield token.start, tokens[j].end, "PERSON"
                i = j + 1
                continue
            if _honorific_next(tokens, i + 1) or _label_before(text, token.start) or \
                    _contact_after(text, token.end) or _alone(tokens, i):
                yield token.start, token.end, "PERSON"
                i += 1
                continue
        elif token.pos[1] == "固有名詞" and token.pos[2] != "人名" \
                and not token.surface.endswith(_ORG_ENDINGS) and _place_as_surname(tokens, i):
            # 中野様, 千葉　陽菜: a surname the dictionary knows as a place.
            end = _place_as_surname(tokens, i)
            yield token.start, end, "PERSON"
            i += 1
            continue
        elif token.name_part or _katakana_name(token):
            j = i
            while j + 2 < n and tokens[j + 1].surface in ("・", "･", "=") and _katakana_name(tokens[j + 2]):
                j += 2
            if _honorific_next(tokens, j + 1) or (token.name_part and _label_before(text, token.start)
                                                    and _ends_person(tokens, j + 1, text)):
                start = token.start
                if i and _katakana_name(tokens[i - 1]) and token.name_part is False:
                    start = tokens[i - 1].start
                yield start, tokens[j].end, "PERSON"
                i = j + 1
                continue
        i += 1
    yield from romaji.names(text)
    yield from _intro_or_spaced(text, tokens)
    yield from _kana_after_label(text)
    yield from _gazetteer(text, gazetteer)


def _place_as_surname(tokens: list[_Token], i: int) -> int:
    """Where the name ends if the place-like token i is used as a surname, else 0: before a
    title (関様, 中野さん), or before a given name the dictionary knows (千葉　陽菜)."""
    token = tokens[i]
    nxt = _next_word(tokens, i + 1)
    if nxt is None:
        return 0
    if i >= 2 and tokens[i - 1].surface in ("（", "(") and nxt.surface in ("）", ")") \
            and tokens[i - 2].surface in ("です", "ます", "。", "した") \
            and (i + 2 >= len(tokens) or tokens[i + 2].surface in ("\n", "。")):
        return token.end  # a sign-off after the message: …です（佐伯）
    if nxt.surface in ("様", "さん", "さま", "氏", "殿", "先生", "くん", "ちゃん") or (
            len(token.surface) >= 2 and _honorific_next(tokens, i + 1)
            and nxt.surface not in ("方", "相")):
        return token.end
    j = i + 2 if nxt.blank and len(nxt.surface) == 1 else i + 1
    given = _next_word(tokens, j)
    if given is not None and given.pos[2:4] == ("人名", "名") and _ends_person(tokens, j + 1, ""):
        return given.end
    return 0


def _common_word_start(surname: _Token, given: _Token) -> bool:
    """A one-character "surname" that really begins a common word (周+知文 is 周知文)."""
    if len(surname.surface) != 1 or given.start != surname.end:
        return False
    pair = _tokens(surname.surface + given.surface[:1])
    return len(pair) == 1 and pair[0].pos[1] != "固有名詞"


def _alone(tokens: list[_Token], i: int) -> bool:
    """A surname of two or more characters used on its own for a person (前任の藤田に…); a
    one-character one only with a role in brackets after it (西（学校）)."""
    token = tokens[i]
    nxt = _next_word(tokens, i + 1)
    if len(token.surface) < 2:
        inside = _next_word(tokens, i + 2)
        return nxt is not None and nxt.surface in ("（", "(") and inside is not None \
            and inside.surface.startswith(_CONTACT_IN_BRACKETS)
    previous = tokens[i - 1].surface if i else ""
    if previous in ("（", "(") and nxt is not None and nxt.surface in ("）", ")"):
        return True  # a sign-off: …です（佐伯）
    if nxt is not None and nxt.surface in ("（", "("):
        # 田村（内線2104）, 高橋（たかはし）, 森（45）: not 松本（長野県）
        inside = _next_word(tokens, i + 2)
        return inside is not None and (inside.surface.startswith(_CONTACT_IN_BRACKETS)
                                       or inside.pos[1] == "数詞"
                                       or bool(re.fullmatch(r"[\u3041-\u3096]+", inside.surface)))
    return nxt is None or nxt.surface.startswith(_PARTICLES) or \
        nxt.surface in ("、", "。", "\n") or nxt.blank


def _katakana_name(token: _Token) -> bool:
    return bool(re.fullmatch(r"[\u30a1-\u30faー]{2,10}", token.surface))


def _honorific_next(tokens: list[_Token], i: int) -> bool:
    nxt = _next_word(tokens, i)
    if nxt is None:
        return False
    if nxt.surface in EXACT_TITLES:
        return True
    # A minister's title: 河野デジタル相, 山田外相.
    after = _next_word(tokens, i + 1)
    if after is not None and after.surface == "相" and after.pos[0] == "接尾辞" \
            and re.fullmatch(r"[\u30a1-\u30faー]{2,8}|[\u4e00-\u9fff]{1,3}", nxt.surface):
        return True
    return any(nxt.surface == h or nxt.surface.startswith(h)
               for h in HONORIFICS) and nxt.surface not in ("さんご", "様式", "様子")


def _label_before(text: str, start: int) -> bool:
    before = text[max(0, start - 8):start].rstrip(" \u3000：:は、")
    return before.endswith(LABELS)


def _contact_after(text: str, end: int) -> bool:
    after = text[end:end + 40]
    return bool(re.match(r"\s*[（(][^）)]*[@＠]", after)) or after.startswith(("です。", "と申します"))


_KANA = r"(?:[\u30a1-\u30faー]{2,10}(?:[ \u3000][\u30a1-\u30faー]{1,10})?" \
        r"|[\u3041-\u3096ー]{2,8}[ \u3000][\u3041-\u3096ー]{1,8}(?![\u3041-\u3096]))"
_KANA_NAME = re.compile(
    r"(?:口座名義|名義人|名義|氏名|フリガナ|ふりがな|カナ|よみがな|読み仮名|よみ|ヨミ)"
    rf"(?:は|：|:|\s|[（(])*({_KANA})")
_KANA_BEFORE = re.compile(
    r"(?<![\u30a1-\u30faー])([\u30a1-\u30faー]{2,10}[ \u3000][\u30a1-\u30faー]{1,10})"
    r"(?=\s*(?:名義|様|さん|氏|殿))")
# A child's given name alone before くん / ちゃん (陽翔くん, ゆいちゃん); kinship words and
# mascots (みどりまるくん: longer than a given name) are not names.
_CHILD = re.compile(r"(?<![\u3041-\u3096])([\u3041-\u3096]{2,4})(?=くん|ちゃん(?!と))"
                    r"|([\u4e00-\u9fff々]{1,3})(?=くん|ちゃん(?!と))")
_NOT_CHILD = ("赤", "お", "婆", "爺", "兄", "姉", "坊", "嬢", "孫", "父", "母", "いつも", "もっと")
_RELATIONS = ("長男", "長女", "次男", "次女", "三男", "三女", "孫", "息子", "娘", "児童", "生徒")


# A name in the dictionary introducing itself (ゆうこです, たかしだよ, りゅうせいのママです).
_SELF_INTRO = ("です", "だよ", "だよー", "でーす", "と申します", "より", "のママ", "のパパ", "の母", "の父")
# A surname the dictionary does not know, given in full before a title: 大豆生田 実 様.
_SPACED_NAME = re.compile(r"(?:^|(?<=[\s、。：:「（(]))([\u4e00-\u9fff々]{1,4}[ \u3000][\u4e00-\u9fff々]{1,4})"
                          r"(?=[ \u3000]?(?:様|さん|殿|氏|先生))")
# One-character surname and given name in Chinese or Korean order: 王 子涵, 陳 暁玲.
_ONE_CHAR_SURNAME = re.compile(r"(?:^|(?<=[\s、。：:「（(子娘夫妻母父]))([\u4e00-\u9fff][ \u3000][\u4e00-\u9fff]{1,2})"
                               r"(?=[（(、。,\s]|$|さん|様|氏)")


def _intro_or_spaced(text: str, tokens: list[_Token]) -> Iterator[Span]:
    for i, token in enumerate(tokens):
        if token.name_part and len(token.surface) >= 2:
            after = text[token.end:token.end + 6]
            if after.startswith(_SELF_INTRO) and (i == 0 or tokens[i - 1].surface in
                                                  ("、", "。", "\n", " ", "\u3000", "は", "、", "！", "!")
                                                  or tokens[i - 1].blank):
                yield token.start, token.end, "PERSON"
    for match in _SPACED_NAME.finditer(text):
        yield match.start(1), match.end(1), "PERSON"
    for match in _ONE_CHAR_SURNAME.finditer(text):
        first = _tokens(match.group(1)[0])
        if first and first[0].surname and not match.group(1).endswith(_ORG_ENDINGS + ("駅", "丁目")):
            yield match.start(1), match.end(1), "PERSON"


def _kana_after_label(text: str) -> Iterator[Span]:
    for match in _KANA_NAME.finditer(text):
        yield match.start(1), match.end(1), "PERSON"
    for match in _KANA_BEFORE.finditer(text):
        yield match.start(1), match.end(1), "PERSON"
    for match in _CHILD.finditer(text):
        group = 1 if match.group(1) else 2
        start, end = match.span(group)
        value = match.group(group)
        for relation in _RELATIONS:
            if value.startswith(relation) and len(value) > len(relation):
                start += len(relation)
                value = value[len(relation):]
        if value.startswith(_NOT_CHILD) or value in _RELATIONS:
            continue
        yield start, end, "PERSON"


_ALIAS_AFTER = re.compile(r"[ \u3000]?[（(]\s*([A-Za-z][A-Za-z'-]+(?:[ \u3000][A-Za-z][A-Za-z'-]+){0,2}"
                          r"|[\u4e00-\u9fff々]{1,4}(?:[ \u3000][\u4e00-\u9fff々]{1,3})?)\s*[）)]")
_LATIN_BEFORE = re.compile(r"([A-Z][A-Za-z'-]+(?:[ \u3000][A-Z][A-Za-z'-]+){1,2})[ \u3000]*[（(]\s*$")
_RECORD_HEAD = re.compile(r"^[ \u3000]*([A-Z][A-Za-z'-]+(?:[ \u3000][A-Z][A-Za-z'-]+){1,2})[ \u3000]*[/／,、|｜]")
_PARENT_OF = re.compile(r"(?:^|(?<=[「\s、。]))([\u3041-\u3096\u30a1-\u30faー]{2,6})"
                        r"(?=(?:くん|ちゃん)?の(?:ママ|パパ|母|父|保護者))")


def aliases(text: str, spans: list) -> list[tuple[int, int, str]]:
    """The same person under another script, next to a name already found: 王 偉（Wang Wei）,
    Kim Minjun (金珉俊); a Latin name opening a record line that holds contact data
    (Chen Xiaoling / 陳 暁玲 / 080-…); a child's name before のママ."""
    found = []
    people_spans = [(s, e) for s, e, k in spans if k == "PERSON"]
    for start, end in people_spans:
        latin = text[start:end].isascii()
        # Only the same name in the other script: brackets after a name also hold roles (父, 副会長).
        match = _ALIAS_AFTER.match(text, end)
        if match and match.group(1).isascii() != latin and \
                (not match.group(1).isascii() or max(map(len, match.group(1).split())) >= 3):
            found.append((match.start(1), match.end(1), "PERSON"))  # not 今井（CW）
        if match := _LATIN_BEFORE.search(text[max(0, start - 60):start]):
            offset = max(0, start - 60)
            found.append((offset + match.start(1), offset + match.end(1), "PERSON"))
    contact_lines = {text.rfind("\n", 0, s) + 1 for s, _, k in spans if k in ("PHONE", "EMAIL", "ADDRESS")}
    for line_start in contact_lines:
        match = _RECORD_HEAD.match(text, line_start)
        if match and not any(w.lower() in romaji.NOT_NAMES for w in match.group(1).split()):
            found.append((match.start(1), match.end(1), "PERSON"))
    for match in _PARENT_OF.finditer(text):
        found.append((match.start(1), match.end(1), "PERSON"))
    return found


def _gazetteer(text: str, names: Iterable[str]) -> Iterator[Span]:
    for name in names:
        if len(name) < 2:
            continue
        for match in re.finditer(re.escape(name), text):
            yield match.start(), match.end(), "PERSON"
        squeezed = re.sub(r"[ \u3000]", "", name)
        if squeezed != name and len(squeezed) >= 2:
            for match in re.finditer(re.escape(squeezed), text):
                yield match.start(), match.end(), "PERSON"
