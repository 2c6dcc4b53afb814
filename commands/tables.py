"""Reading the tables staff bring (CSV from Excel, or .xlsx itself) for every importer: UTF-8
with or without BOM, or CP932 as Japanese Windows' Excel saves it; Japanese column names as
aliases of ours; line-numbered refusals, including a cell too large to read."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Mapping

MAX_CELL = 131_072  # characters: the csv module's own limit, kept deliberately
YES = frozenset({"yes", "y", "true", "1", "はい", "可", "○", "〇", "◯", "有", "あり", "オンライン"})
NO = frozenset({"no", "n", "false", "0", "いいえ", "不可", "×", "✕", "無", "なし", "-", "－"})


class TableError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def decode(data: bytes) -> str:
    """UTF-8 (BOM or not) when it decodes; otherwise CP932. Text that is neither is refused."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932")
    except UnicodeDecodeError:
        raise TableError(["文字コードを判別できません。UTF-8 か Shift_JIS（Excel の「CSV」）で"
                          "保存してください。"]) from None


def yes_no(value: str) -> bool | None:
    """はい/いいえ, ○/×, yes/no, 可/不可 …; None when it is neither."""
    key = unicodedata.normalize("NFKC", value).strip().lower()
    if key in YES or value.strip() in YES:
        return True
    if key in NO or value.strip() in NO:
        return False
    return None


def _canonical(name: str, aliases: Mapping[str, str]) -> str:
    key = unicodedata.normalize("NFKC", name).strip().lstrip("\ufeff")
    return aliases.get(key, aliases.get(key.lower(), key.lower() if key.isascii() else key))


def _xlsx_rows(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 — a damaged or foreign file
        raise TableError(["Excel ファイル（.xlsx）として読めません。"]) from None
    sheet = book.worksheets[0]
    rows = [["" if v is None else (v.isoformat() if hasattr(v, "isoformat") else
                                   (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)))
             for v in row] for row in sheet.iter_rows(values_only=True)]
    book.close()
    return rows


def read_table(data: bytes, required: tuple[str, ...], aliases: Mapping[str, str] | None = None
               ) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(header, [(line number, row)]) with our column names; TableError lists what is wrong."""
    aliases = aliases or {}
    if data[:2] == b"PK":  # an .xlsx is a zip file
        raw_rows = _xlsx_rows(data)
    else:
        reader = csv.reader(io.StringIO(decode(data)))
        raw_rows = []
        try:
            for row in reader:
                raw_rows.append(row)
        except csv.Error:
            raise TableError([f"{reader.line_num}行目: 項目が大きすぎるか、引用符の対応が正しくありません"
                              f"（1項目 {MAX_CELL:,} 文字まで）。"]) from None
    while raw_rows and not any(cell.strip() for cell in raw_rows[0]):
        raw_rows.pop(0)
    if not raw_rows:
        raise TableError(["データがありません。"])
    header = [_canonical(h, aliases) for h in raw_rows[0]]
    missing = [c for c in required if c not in header]
    if missing:
        raise TableError([f"1行目: 列がありません: {', '.join(missing)}（必要な列: {','.join(required)}）"])
    rows = []
    for line, cells in enumerate(raw_rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        rows.append((line, {name: (cells[i] if i < len(cells) else "").strip()
                            for i, name in enumerate(header) if name}))
    return header, rows
