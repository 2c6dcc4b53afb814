"""Numbers and addresses that identify or reach a person: phone numbers, e-mail, マイナンバー,
payment cards, postal codes, bank accounts and health-insurance numbers.

Each detector reads the folded text (same length as the original) and looks at the words
around a candidate: the same digits are personal after 携帯 or 様, and public after 代表,
課 or FAX.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum import luhn
from stdnum.jp import cn as corporate_number
from stdnum.jp import in_ as individual_number

Span = tuple[int, int, str]

# Words that make a nearby number or address an organisation's, not a person's.
ORG_WORDS = ("代表", "直通", "課", "係", "窓口", "FAX", "Fax", "fax", "ファクス", "ファックス",
             "内線", "センター", "役所", "役場", "本部", "庁舎", "事務局", "事務所", "支所",
             "出張所", "保健所", "公民館", "図書館", "体育館", "会館", "学校", "病院", "施設",
             "会社", "法人", "団体", "組合", "協会", "窓口", "問い合わせ", "問合せ", "お問合せ",
             "コールセンター", "ダイヤル", "相談室", "受付", "会場", "所在地", "本社", "支店")
PERSON_WORDS = ("携帯", "自宅", "連絡先", "私の", "様", "さん", "氏", "くん", "ちゃん", "本人",
                "保護者", "申請者", "相談者", "家族", "緊急連絡", "TEL", "Tel", "電話は",
                "電話番号は", "住所")

_SENTENCE_END = re.compile(r"[。\n]")
# A line that introduces a facility or an organisation (施設案内：中央図書館 〒… TEL …): the
# contact data on it is the organisation's, unless a person is named on it first.
_ORG_LINE = re.compile(r"図書館|センター|役所|役場|公民館|会館|体育館|保健所|事務所|支所|出張所|学校|"
                       r"病院|施設|協会|法人|株式会社|窓口|庁舎|本部|"
                       r"大使館|領事館|"
                       r"\b(?:Office|Cent(?:er|re)|Association|Library|Hall|Inquiries|[Ee]mergenc\w*|"
                       r"Department|Division|Section|Desk|[Ee]mbassy|[Cc]onsulate|office|center)\b")
_PERSON_ON_LINE = re.compile(r"様|さん|氏名|自宅|携帯|住所は|お住まい|本人|申請者|相談者|保護者|世帯主|"
                             r"\b(?:Mr|Ms|Mrs|Miss|[Mm]y|I'm|I am|[Hh]is|[Hh]er)\b")


def org_line(folded: str, start: int) -> bool:
    line_start = max(folded.rfind("\n", 0, start) + 1, start - 80)
    before = folded[line_start:start]
    return bool(_ORG_LINE.search(before)) and not _PERSON_ON_LINE.search(before)


def clause_before(folded: str, start: int, width: int = 30) -> str:
    """The text before `start` back to the sentence start, at most `width` characters."""
    window = folded[max(0, start - width):start]
    cut = max(window.rfind("。"), window.rfind("\n"))
    return window[cut + 1:]


def clause_after(folded: str, end: int, width: int = 12) -> str:
    window = folded[end:end + width]
    match = _SENTENCE_END.search(window)
    return window[:match.start()] if match else window


def has_any(text: str, words: tuple[str, ...]) -> bool:
    return any(word in text for word in words)


# -- e-mail ---------------------------------------------------------------------------------
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_ROLE_LOCAL = re.compile(
    r"^(info|information|contact|support|admin|office|soumu|somu|kikaku|koho|kouhou|kenko|"
    r"kenkou|zeimu|shogai|shougai|bosai|bousai|kyoiku|kyouiku|fukushi|jinji|zaisei|keiri|"
    r"toiawase|madoguchi|uketsuke|webmaster|postmaster|noreply|no-reply|kouchou|koucho|"
    r"city|town|ward|dept|section|desk|center|centre|help|helpdesk|service|press|media)"
    r"([._-]|\d|$)", re.I)
_ORG_DOMAIN = re.compile(r"(^|\.)(lg\.jp|go\.jp|ac\.jp|ed\.jp)$|(^|\.)(city|pref|town|vill)\.", re.I)


def emails(folded: str) -> Iterator[Span]:
    for match in _EMAIL.finditer(folded):
        address = match.group(0).rstrip(".")
        local, _, domain = address.partition("@")
        if _ROLE_LOCAL.match(local) or _ORG_DOMAIN.search(domain.lower()):
            continue
        if has_any(clause_before(folded, match.start(), 16), ("代表メール", "課", "係", "窓口")):
            continue
        yield match.start(), match.start() + len(address), "EMAIL"


# -- phone numbers --------------------------------------------------------------------------
# Separators people put between the groups: hyphens, spaces, dots and middle dots.
_SEP = r"[- .・]"
_PHONE = re.compile(
    r"(?<!\d)(?<!\d[-.・])(?:"
    rf"\+81{_SEP}?\(?0?\d{{1,4}}\)?{_SEP}?\d{{1,4}}{_SEP}?\d{{3,4}}"     # international
    rf"|\(0\d{{1,4}}\){_SEP}?\d{{1,4}}{_SEP}?\d{{3,4}}"                  # (03)1234-5678
    r"|0\d{1,4}\(\d{1,4}\)\d{3,4}"                                  # 03(1234)5678
    rf"|0\d{{1,4}}{_SEP}\d{{1,4}}{_SEP}\d{{3,4}}"                         # 03-1234-5678
    r"|0[5789]0\d{8}|0[1-9]\d{8}"                                   # unbroken 10/11 digits
    r")(?!\d)(?![-.・]\d)")
_TOLL_FREE = ("0120", "0570", "0800", "0180", "0990")


# A number abroad (+33 6 12 34 56 78): a person's, unless an organisation is named on the line.
_FOREIGN_PHONE = re.compile(r"(?<![\w+])\+(?!81)[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){3,6}(?![\d])")


def foreign_phones(digits: str, folded: str) -> Iterator[Span]:
    for match in _FOREIGN_PHONE.finditer(digits):
        count = sum(ch.isdigit() for ch in match.group(0))
        after = folded[match.end():match.end() + 30]
        if 8 <= count <= 15 and not org_line(folded, match.start()) and not _ORG_LINE.search(after):
            yield match.start(), match.end(), "PHONE"


def phones(digits: str, folded: str) -> Iterator[Span]:
    for match in _PHONE.finditer(digits):
        raw = match.group(0)
        number = re.sub(r"\D", "", raw)
        if number.startswith("81"):
            number = "0" + number[2:].lstrip("0")
        if not 10 <= len(number) <= 11 or number.startswith(_TOLL_FREE):
            continue
        before = clause_before(folded, match.start(), 24)
        after = clause_after(folded, match.end(), 8)
        mobile = number[:3] in ("070", "080", "090") or number.startswith(("050",))
        near_before = before[-10:]
        if has_any(near_before, ORG_WORDS) or after.startswith(("（直通", "(直通", "（代表", "(代表", "（内線", "(内線")):
            continue
        if not mobile and has_any(before, ORG_WORDS) and not has_any(near_before, PERSON_WORDS):
            continue
        if has_any(folded[max(0, match.start() - 40):match.start()], ("電話番号が", "番号が変わり")) \
                or "に変わりました" in after:
            continue
        if not mobile and (org_line(folded, match.start()) or re.match(
                r"\s*[（(][^）)]{0,20}(?:窓口|課|係|センター|相談|本部|事務局)", folded[match.end():match.end() + 24])):
            continue
        yield match.start(), match.end(), "PHONE"


# -- numbers with check digits ----------------------------------------------------------------
_GROUPED = re.compile(r"(?<!\d)(?<!\d-)\d(?:[-. ・]?\d){11,15}(?!\d)")


_RECORD_NUMBERS = ("受付番号", "伝票番号", "納付番号", "整理番号", "管理番号", "申請番号", "請求番号",
                   "注文番号", "契約番号", "文書番号", "番号札")


def check_digit_numbers(digits_only_fold: str, folded: str) -> Iterator[Span]:
    for match in _GROUPED.finditer(digits_only_fold):
        number = re.sub(r"\D", "", match.group(0))
        before = clause_before(folded, match.start(), 16)
        if before.endswith("+") or has_any(before[-8:], ("TEL", "Tel", "tel", "電話", "携帯", "FAX")):
            continue  # a phone number that happens to have twelve digits
        if len(number) == 12 and individual_number.is_valid(number):
            if has_any(before[-10:], _RECORD_NUMBERS) and not has_any(before, ("個人番号", "マイナンバー")):
                continue  # a 受付番号 that happens to pass the check digit
            yield match.start(), match.end(), "MYNUMBER"
        elif len(number) == 13 and corporate_number.is_valid(number) and "法人" in before:
            yield match.start(), match.end(), "CORPORATE_NUMBER"
        elif len(number) in (15, 16) and number[0] in "3456" and luhn.is_valid(number):
            if has_any(before, ("申請ID", "管理番号", "伝票", "受付番号", "整理番号", "ID", "番号：")) \
                    and not has_any(before, ("カード", "クレジット", "card", "Card")):
                continue
            yield match.start(), match.end(), "CARD"


# -- postal codes ----------------------------------------------------------------------------
_POSTAL = re.compile(r"(〒\s*|郵便番号(?:は|：|:|\s)*)(\d{3}-?\d{4})(?![\d])")


def postal_codes(folded: str) -> Iterator[Span]:
    for match in _POSTAL.finditer(folded):
        start, end = match.span(2)
        context = clause_before(folded, match.start(), 20) + clause_after(folded, end, 30)
        if has_any(context, ("役所", "役場", "庁舎", "センター", "課", "会社", "本社", "事務所")) \
                or org_line(folded, match.start()):
            continue
        yield start, end, "POSTAL_CODE"


# -- bank accounts ---------------------------------------------------------------------------
_ACCOUNT = re.compile(
    r"(口座番号|口座|普通預金|当座預金|普通|当座|\(普\)|（普）|\(当\)|（当）)(?:は|：|:|\s)*"
    r"(\d{6,8})(?![\d桁])")
_YUCHO = re.compile(r"(ゆうちょ(?:銀行)?|記号)(?:[^\d\n]{0,12})(\d{5}-\d{6,8})(?!\d)")


_YUCHO_SPLIT = re.compile(r"記号\s*(?:は|：|:)?\s*(\d{5})\s*[-、,]?\s*番号\s*(?:は|：|:)?\s*(\d{6,8})(?!\d)")


def bank_accounts(folded: str) -> Iterator[Span]:
    for match in _YUCHO_SPLIT.finditer(folded):
        if "保険" not in folded[max(0, match.start() - 20):match.start()]:
            yield match.start(1), match.end(2), "BANK_ACCOUNT"
    for match in _ACCOUNT.finditer(folded):
        yield match.start(2), match.end(2), "BANK_ACCOUNT"
    for match in _YUCHO.finditer(folded):
        yield match.start(2), match.end(2), "BANK_ACCOUNT"


# -- health insurance ------------------------------------------------------------------------
_INSURER = re.compile(r"(被保険者番号|保険者番号|被保険者証\s*番号|受給者証番号|受給者番号|医療証番号)"
                      r"(?:は|：|:|\s)*(\d{6,10})(?!\d)")
_SYMBOL = re.compile(r"記号[・･]?番号(?:は|：|:|\s)*([^、,。\s（(]{2,24}(?:[（(]枝番\s*\d{1,3}[）)])?)")


def health_insurance(folded: str) -> Iterator[Span]:
    for match in _INSURER.finditer(folded):
        yield match.start(2), match.end(2), "HEALTH_INSURANCE"
    for match in _SYMBOL.finditer(folded):
        value = match.group(1)
        if any(ch.isdigit() for ch in value) and "保険" in folded[max(0, match.start() - 20):match.end()]:
            yield match.start(1), match.end(1), "HEALTH_INSURANCE"
