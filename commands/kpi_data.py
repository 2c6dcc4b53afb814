"""KPI values: the CSV import (metric,period,value,target[,direction][,department]) and periods
(YYYY-MM, YYYY-Www, FY2026)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from commands.tables import TableError, read_table

REQUIRED = ("metric", "period", "value", "target")
ALIASES = {"指標": "metric", "指標名": "metric", "項目": "metric", "期間": "period",
           "対象期間": "period", "値": "value", "実績": "value", "実績値": "value", "目標": "target",
           "目標値": "target", "方向": "direction", "部署": "department", "所属": "department"}
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_WEEK = re.compile(r"^(\d{4})-W(0[1-9]|[1-4]\d|5[0-3])$")
_FISCAL = re.compile(r"^FY(\d{4})$")
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?%?$")


class KpiFileError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def period_span(period: str) -> tuple[date, date]:
    """First and last day of a period; FY is Japan's fiscal year (April to March)."""
    if m := _MONTH.match(period):
        start = date(int(m.group(1)), int(m.group(2)), 1)
        end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        return start, end
    if m := _WEEK.match(period):
        start = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        return start, start + timedelta(days=6)
    if m := _FISCAL.match(period):
        year = int(m.group(1))
        return date(year, 4, 1), date(year + 1, 3, 31)
    raise ValueError(period)


def number(text: str) -> tuple[float, str]:
    text = text.replace(",", "").strip()
    if not _NUMBER.match(text):
        raise ValueError(text)
    return (float(text[:-1]), "%") if text.endswith("%") else (float(text), "")


def parse_kpi_csv(data: bytes) -> list[dict[str, Any]]:
    try:
        _, table = read_table(data, REQUIRED, ALIASES)
    except TableError as exc:
        raise KpiFileError(exc.errors) from None
    rows, errors = [], []
    for line, row in table:
        problems = []
        if not row.get("metric"):
            problems.append("metric が空です")
        try:
            period_span(row.get("period", ""))
        except ValueError:
            problems.append("period は YYYY-MM、YYYY-Www、FY2026 のどれかで書いてください")
        values = {}
        for column in ("value", "target"):
            try:
                values[column] = number(row.get(column, ""))
            except ValueError:
                problems.append(f"{column} は数値か 61% のような割合で書いてください")
        direction = (row.get("direction") or "up").lower()
        if direction not in ("up", "down"):
            problems.append("direction は up か down で書いてください")
        if problems:
            errors.append(f"{line}行目: " + "、".join(problems))
            continue
        rows.append({"metric": row["metric"], "period": row["period"],
                     "period_end": period_span(row["period"])[1].isoformat(),
                     "value": values["value"][0], "target": values["target"][0],
                     "unit": values["value"][1] or values["target"][1], "direction": direction,
                     "department": row.get("department") or ""})
    if errors:
        raise KpiFileError(errors)
    if not rows:
        raise KpiFileError(["値の行がありません。"])
    return rows


def today_in(tz: str) -> date:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(tz)).date()
