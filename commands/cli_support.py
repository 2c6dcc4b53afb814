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
