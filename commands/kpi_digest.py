"""The KPI digest: imported metrics against their targets, and the bot's own usage derived
from the event log — as numbers, Japanese text and a chart (PNG, Japanese font bundled)."""

from __future__ import annotations

import io
import re
import statistics
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from store.kpi import series
from store.events import format_time

DERIVED_TYPES = ("draft.completed", "draft.blocked", "ask.answered", "ask.blocked",
                 "broadcast.sent", "broadcast.answered", "broadcast.read", "status.looked_up")


def window(period: str, moment: datetime, tz: str) -> tuple[datetime, datetime, str]:
    """The last complete week (Mon–Sun) or month before `moment`, in local time."""
    local = moment.astimezone(ZoneInfo(tz))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "weekly":
        end = midnight - timedelta(days=local.weekday())
        start = end - timedelta(days=7)
        year, week, _ = start.isocalendar()
        return start, end, f"{year}-W{week:02d}"
    end = midnight.replace(day=1)
    start = (end - timedelta(days=1)).replace(day=1)
    return start, end, start.strftime("%Y-%m")


def derived(store, start: datetime, end: datetime, department: str | None = None) -> dict[str, Any]:
    """The bot's own usage in [start, end), straight from the log."""
    low, high = format_time(start), format_time(end)
    events = [e for e in store.iter_all(types=DERIVED_TYPES) if low <= e.occurred_at < high]
    if department:
        events = [e for e in events if e.payload.get("department") in (department, None)
                  or e.type.startswith(("broadcast", "status"))]
    uses = [e for e in events if e.type == "draft.completed" and e.payload.get("result") in ("ok", "template")]
    users_by_department: dict[str, set[str]] = {}
    for e in events:
        if e.type in ("draft.completed", "ask.answered"):
            users_by_department.setdefault(e.payload.get("department") or "（未登録）", set()).add(
                e.payload.get("user", ""))
    blocks: Counter = Counter()
    for e in events:
        if e.type.endswith(".blocked"):
            blocks.update(e.payload.get("kinds", {}))
    sent = {e.payload["id"]: e.time for e in events if e.type == "broadcast.sent"}
    first_ack: dict[tuple[int, str], datetime] = {}
    for e in events:
        if e.type in ("broadcast.answered", "broadcast.read") and e.payload.get("id") in sent:
            first_ack.setdefault((e.payload["id"], e.payload["user_id"]), e.time)
    targets = sum(e.payload.get("targets", 0) for e in events if e.type == "broadcast.sent")
    delays = [(t - sent[b]).total_seconds() for (b, _), t in first_ack.items()]
    return {
        "draft_uses": len(uses),
        "ask_answers": sum(1 for e in events if e.type == "ask.answered"),
        "active_users_by_department": {d: len(u) for d, u in sorted(users_by_department.items())},
        "pii_blocks_by_kind": dict(blocks),
        "broadcasts_sent": len(sent),
        "acknowledgement_rate": round(len(first_ack) / targets, 3) if targets else None,
        "median_seconds_to_ack": round(statistics.median(delays), 1) if delays else None,
        "status_lookups": sum(1 for e in events if e.type == "status.looked_up"),
    }


def _progress(value: float, target: float, direction: str) -> float | None:
    if direction == "down":
        return round(target / value * 100, 1) if value else None
    return round(value / target * 100, 1) if target else None


# A digest shows figures of its own kind of period; a metric kept only per fiscal year appears
# in the monthly digest with its FY label.
_PERIOD_KIND = {"weekly": re.compile(r"^\d{4}-W\d{2}$"), "monthly": re.compile(r"^\d{4}-\d{2}$")}
_FISCAL = re.compile(r"^FY\d{4}$")


def metrics(engine, until, department: str | None, period: str | None = None) -> list[dict[str, Any]]:
    """Each metric's latest value of the digest's own kind of period (weekly figures for the
    weekly digest, monthly for the monthly one), up to `until`, against the one before it."""
    found = []
    kind = _PERIOD_KIND.get(period or "")
    limit = until.isoformat() if until else "9999-12-31"
    for s in series(engine, department, None):
        points = [p for p in s.points if (kind is None or kind.match(p[0])) and p[1] <= limit]
        if not points and period == "monthly":  # a fiscal year counts once it has begun
            points = [p for p in s.points if _FISCAL.match(p[0]) and f"{p[0][2:]}-04-01" <= limit]
        if not points:
            continue
        period_label, _, value, target = points[-1]
        previous = points[-2][2] if len(points) > 1 else None
        change = round(value - previous, 2) if previous is not None else None
        progress = _progress(value, target, s.direction)
        better = change is not None and (change > 0 if s.direction == "up" else change < 0)
        met = progress is not None and progress >= 100
        found.append({"metric": s.metric, "department": s.department or None, "period": period_label,
                      "value": value, "unit": s.unit, "target": target, "direction": s.direction,
                      "previous": previous, "change": change, "progress": progress,
                      "status": "達成" if met else ("順調" if better else "遅れ")})
    return found


def build(store, engine, period: str, moment: datetime, tz: str,
          department: str | None = None) -> dict[str, Any]:
    start, end, label = window(period, moment, tz)
    return {"period": period, "label": label, "department": department,
            "from": start.isoformat(), "to": end.isoformat(),
            "metrics": metrics(engine, (end - timedelta(days=1)).date(), department, period),
            "usage": derived(store, start, end, department)}


def _number(value: float, unit: str) -> str:
    text = f"{value:,.1f}".rstrip("0").rstrip(".")
    return text + unit


def text(digest: dict[str, Any]) -> str:
    title = "週次" if digest["period"] == "weekly" else "月次"
    lines = [f"【DX KPI {title}まとめ】{digest['label']}"
             f"{'（' + digest['department'] + '）' if digest['department'] else ''}"]
    versus = "前週比" if digest["period"] == "weekly" else "前月比"
    for m in digest["metrics"]:
        change = "" if m["change"] is None else f"（{versus} {'+' if m['change'] >= 0 else ''}{_number(m['change'], m['unit'])}）"
        progress = "" if m["progress"] is None else f" 目標 {_number(m['target'], m['unit'])} に対し {m['progress']}%"
        lines.append(f"・{m['metric']}［{m['period']}］: {_number(m['value'], m['unit'])}{change}{progress}"
                     f" — {m['status']}")
    if not digest["metrics"]:
        unit = "週" if digest["period"] == "weekly" else "月"
        lines.append(f"・{unit}ごとの KPI はまだ取り込まれていません（chonai kpi import、期間は"
                     f"{'2026-W47' if unit == '週' else '2026-11'} の形）。")
    u = digest["usage"]
    lines.append("ボットの利用状況:")
    lines.append(f"・AI 下書き {u['draft_uses']} 件、文書への質問 {u['ask_answers']} 件、"
                 f"申請状況の確認 {u['status_lookups']} 件")
    if u["active_users_by_department"]:
        lines.append("・利用者数（部署別）: " + "、".join(
            f"{d} {n}人" for d, n in u["active_users_by_department"].items()))
    if u["pii_blocks_by_kind"]:
        lines.append("・個人情報でブロック: " + "、".join(f"{k} {n}件" for k, n in u["pii_blocks_by_kind"].items()))
    if u["broadcasts_sent"]:
        rate = "" if u["acknowledgement_rate"] is None else f"、確認率 {u['acknowledgement_rate'] * 100:.0f}%"
        median = "" if u["median_seconds_to_ack"] is None else f"、確認までの中央値 {u['median_seconds_to_ack']:.0f}秒"
        lines.append(f"・一斉連絡 {u['broadcasts_sent']} 件{rate}{median}")
    return "\n".join(lines)


def chart(digest: dict[str, Any]) -> bytes:
    """A PNG: progress against target per metric (IPAexGothic from matplotlib-fontja)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib_fontja  # noqa: F401  (registers the Japanese font for matplotlib)
    from matplotlib.figure import Figure

    items = [m for m in digest["metrics"] if m["progress"] is not None]
    figure = Figure(figsize=(7, 1.2 + 0.5 * max(1, len(items))), dpi=100)
    axes = figure.subplots()
    names = [m["metric"] for m in items] or ["（KPI なし）"]
    progress = [min(m["progress"], 150) for m in items] or [0]
    colours = ["#0b7c5a" if m["status"] != "遅れ" else "#c0392b" for m in items] or ["#999999"]
    axes.barh(names, progress, color=colours)
    axes.axvline(100, color="#333333", linewidth=1, linestyle="--")
    axes.set_xlabel("目標に対する達成率（%）")
    axes.set_title(f"DX KPI {digest['label']}")
    axes.invert_yaxis()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
