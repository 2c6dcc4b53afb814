"""Imported KPI values (the read model behind the digest)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Column, Float, String, select
from sqlmodel import Field, SQLModel

from store.db import read_connection
from store.events import RecordedEvent


class KpiValue(SQLModel, table=True):
    __tablename__ = "kpi_values"
    metric: str = Field(sa_column=Column(String(200), primary_key=True))
    department: str = Field(sa_column=Column(String(200), primary_key=True))
    period: str = Field(sa_column=Column(String(20), primary_key=True))
    period_end: str = Field(max_length=10)
    value: float = Field(sa_column=Column(Float, nullable=False))
    target: float = Field(sa_column=Column(Float, nullable=False))
    unit: str = Field(max_length=10)
    direction: str = Field(max_length=4)


values_table = KpiValue.__table__


class KpiProjection:
    name = "kpi"
    types = frozenset({"kpi.imported"})

    def apply(self, conn, batch: Sequence[RecordedEvent]) -> None:
        for event in batch:
            for row in event.payload["rows"]:
                key = (values_table.c.metric == row["metric"]) & \
                      (values_table.c.department == row["department"]) & \
                      (values_table.c.period == row["period"])
                conn.execute(values_table.delete().where(key))
                conn.execute(values_table.insert().values(**row))

    def reset(self, conn) -> None:
        conn.execute(values_table.delete())


@dataclass(frozen=True)
class Series:
    metric: str
    department: str
    unit: str
    direction: str
    points: list[tuple[str, str, float, float]]  # (period, period_end, value, target)


def series(engine, department: str | None = None, until: date | None = None) -> list[Series]:
    query = select(values_table).order_by(values_table.c.metric, values_table.c.period_end)
    if department:
        query = query.where(values_table.c.department.in_([department, ""]))
    with read_connection(engine) as conn:
        rows = conn.execute(query).mappings().all()
    grouped: dict[tuple[str, str], list] = {}
    meta: dict[tuple[str, str], tuple[str, str]] = {}
    for r in rows:
        if until and r["period_end"] > until.isoformat():
            continue
        key = (r["metric"], r["department"])
        grouped.setdefault(key, []).append((r["period"], r["period_end"], r["value"], r["target"]))
        meta[key] = (r["unit"], r["direction"])
    return [Series(m, d, *meta[(m, d)], points) for (m, d), points in grouped.items()]


