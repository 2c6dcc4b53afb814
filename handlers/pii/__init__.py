"""The personal-information guard: finds names, addresses, birth dates, phone numbers, e-mail
addresses, マイナンバー, postal codes, bank accounts, health-insurance and card numbers in
Japanese text before it may go to an AI, and redacts them.

Detectors generalise from structure (dictionary parts of speech, formats, check digits and
the words around a value), so organisation contact data — a ward office's number, a
department's address, a 法人番号 — is not flagged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from handlers.pii import contacts, dates, people, places
from handlers.pii.folding import digits_view, fold

TYPES = ("PERSON", "ADDRESS", "BIRTHDATE", "PHONE", "EMAIL", "MYNUMBER", "POSTAL_CODE",
         "BANK_ACCOUNT", "HEALTH_INSURANCE", "CARD")
PLACEHOLDERS = {"PERSON": "【氏名】", "ADDRESS": "【住所】", "BIRTHDATE": "【生年月日】",
                "PHONE": "【電話番号】", "EMAIL": "【メールアドレス】", "MYNUMBER": "【個人番号】",
                "POSTAL_CODE": "【郵便番号】", "BANK_ACCOUNT": "【口座番号】",
                "HEALTH_INSURANCE": "【保険証番号】", "CARD": "【カード番号】"}
LABELS_JA = {"PERSON": "氏名", "ADDRESS": "住所", "BIRTHDATE": "生年月日", "PHONE": "電話番号",
             "EMAIL": "メールアドレス", "MYNUMBER": "マイナンバー", "POSTAL_CODE": "郵便番号",
             "BANK_ACCOUNT": "口座番号", "HEALTH_INSURANCE": "保険証番号", "CARD": "カード番号"}
# When two findings overlap, the more specific kind wins.
_PRIORITY = {"CORPORATE_NUMBER": 0, "EMAIL": 1, "MYNUMBER": 2, "CARD": 3, "HEALTH_INSURANCE": 4,
             "BANK_ACCOUNT": 5, "PHONE": 6, "POSTAL_CODE": 7, "BIRTHDATE": 8, "ADDRESS": 9,
             "PERSON": 10}


@dataclass(frozen=True, slots=True)
class Finding:
    start: int
    end: int
    type: str


def _clean(text: str) -> str:
    """Lone surrogates and control characters become U+FFFD (same length: offsets hold)."""
    return "".join("\ufffd" if ("\ud800" <= ch <= "\udfff" or (ch < " " and ch not in "\n\t"))
                   else ch for ch in text)


class Guard:
    def __init__(self, names: Iterable[str] = (), allow: Iterable[str] = ()) -> None:
        self.names = tuple(n.strip() for n in names if n and n.strip())
        self.allow_words = tuple(a for a in allow if a and a.strip())
        self.allow = {self._key(a) for a in self.allow_words}

    @staticmethod
    def _key(value: str) -> str:
        return re.sub(r"[\s\-ー－()（）]", "", unicodedata.normalize("NFKC", value)).lower()

    def scan(self, text: str) -> list[Finding]:
        """Findings sorted by position, never overlapping (including CORPORATE_NUMBER, which
        marks a 13-digit 法人番号 as public)."""
        if not text:
            return []
        text = _clean(text)
        folded = fold(text)
        digits = digits_view(folded)
        spans = [*contacts.emails(folded), *contacts.phones(digits, folded),
                 *contacts.foreign_phones(digits, folded),
                 *contacts.check_digit_numbers(folded, folded),
                 *contacts.postal_codes(folded), *contacts.bank_accounts(folded),
                 *contacts.health_insurance(folded), *dates.birth_dates(digits),
                 *places.addresses(folded), *people.people(text, self.names)]
        spans.extend(_record_birth_dates(digits, spans))
        spans.extend(people.aliases(text, spans))
        chosen: list[tuple[int, int, str]] = []
        for start, end, kind in sorted(spans, key=lambda s: (_PRIORITY[s[2]], s[0] - s[1])):
            if start >= end or any(start < e and s < end for s, e, _ in chosen):
                continue
            if self.allow and self._key(text[start:end]) in self.allow:
                continue
            chosen.append((start, end, kind))
        return [Finding(s, e, k) for s, e, k in sorted(chosen)]


def _record_birth_dates(digits: str, spans: list) -> list[tuple[int, int, str]]:
    """A date in a person's record line (name plus contact data or address on the same line,
    or the date in brackets right after the name) is their birth date."""
    people = [(s, e) for s, e, k in spans if k == "PERSON"]
    if not people:
        return []
    contact = [(s, e) for s, e, k in spans if k in ("PHONE", "ADDRESS", "EMAIL", "MYNUMBER",
                                                    "HEALTH_INSURANCE", "POSTAL_CODE")]
    found = []
    for start, end in dates.record_dates(digits):
        line_start = digits.rfind("\n", 0, start) + 1
        line_end = digits.find("\n", end)
        line_end = len(digits) if line_end < 0 else line_end
        on_line = lambda s, e: line_start <= s and e <= line_end  # noqa: E731
        named = [p for p in people if on_line(*p)]
        if not named:
            continue
        right_after = any(0 <= start - e <= 3 for _, e in named)
        if right_after or any(on_line(*c) for c in contact):
            found.append((start, end, "BIRTHDATE"))
    return found


_default: Guard | None = None


def scan(text: str) -> list[Finding]:
    global _default
    if _default is None:
        _default = Guard()
    return _default.scan(text)


def personal(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.type in PLACEHOLDERS]


def redact(text: str, findings: Iterable[Finding]) -> str:
    out, last = [], 0
    for finding in sorted(personal(findings), key=lambda f: f.start):
        out.append(text[last:finding.start])
        out.append(PLACEHOLDERS[finding.type])
        last = finding.end
    out.append(text[last:])
    return "".join(out)


def describe(finding: Finding) -> str:
    """What a person is shown of a finding: its kind and where it is, nothing of the value."""
    return f"{LABELS_JA.get(finding.type, finding.type)}（{finding.start + 1}文字目から）"


def keyed_hash(value: str, key: bytes) -> str:
    """An audit hash of a value; only ever keyed with a secret given from outside the data
    directory (CHONAI_PII_KEY), so a copy of the data cannot be brute-forced back to values."""
    normalised = re.sub(r"\s", "", unicodedata.normalize("NFKC", value))
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()
