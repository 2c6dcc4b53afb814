"""Helpers for the command-line parts of command modules (`add_cli`): the database, reading
an import file, and printing a refused import."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def engine_for(settings: Any, migrate: bool = True):
    from store.db import make_engine, sqlite_url
    from store.migrate import upgrade

    engine = make_engine(settings.database_url or sqlite_url(settings.data_dir))
    if migrate:
        upgrade(engine)
    return engine


def read_input(name: str) -> bytes | None:
    """The bytes of a file to import, or None after saying (in Japanese) that it is missing."""
    path = Path(name)
    if not path.is_file():
        print(f"{path}: ファイルが見つかりません。", file=sys.stderr)
        return None
    return path.read_bytes()


def refused(errors: list[str], what: str = "取り込めませんでした") -> int:
    """Print line-numbered errors of a refused import; nothing was changed."""
    print(f"{what}（何も変更していません）:", file=sys.stderr)
    for line in errors:
        print(f"  {line}", file=sys.stderr)
    return 1


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: object) -> str:
    """A cell Excel will not run: text starting like a formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_csv(header: list[str], rows, out=None) -> None:  # noqa: ANN001
    """Every CSV we write: UTF-8 with a BOM (so Excel reads Japanese), formulas neutralised."""
    import csv

    out = out or sys.stdout
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([spreadsheet_cell(h) for h in header])
    for row in rows:
        writer.writerow([spreadsheet_cell(cell) for cell in row])


def existing_engine(settings: Any, migrate: bool = False):
    """For commands that only read: the database if it exists, else None after saying where
    it was looked for (nothing is created)."""
    if not settings.database_url:
        path = Path(settings.data_dir) / "chonai.db"
        if not path.is_file():
            print(f"データベースが見つかりません: {path}（CHONAI_DATA_DIR を確認してください。"
                  "何も作成していません）", file=sys.stderr)
            return None
    return engine_for(settings, migrate=migrate)
