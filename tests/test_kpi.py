"""KPI digests: import and refusal, numbers from a known history, a real PNG with a Japanese
font, and exactly one post per period across restarts and instances."""

from __future__ import annotations

import asyncio
import io
import struct
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from commands.kpi import business_day, import_file, run_due
from commands.kpi_data import KpiFileError, parse_kpi_csv, period_span
from commands.kpi_digest import build, chart, text
from store.db import make_engine
from store.events import EventStore, NewEvent
from store.migrate import upgrade

JST = ZoneInfo("Asia/Tokyo")
CSV = """metric,period,value,target,direction
オンライン手続数,FY2025,300,1000,up
オンライン手続数,FY2026,640,1000,up
電子決裁率,2026-10,55%,100%,up
電子決裁率,2026-11,61%,100%,up
印刷枚数,2026-10,120000,108000,down
印刷枚数,2026-11,125000,108000,down
"""


def test_periods_and_refusals():
    assert period_span("FY2026")[0].isoformat() == "2026-04-01"
    assert period_span("2026-W47")[0].isoformat() == "2026-11-16"
    rows = parse_kpi_csv(CSV.encode())
    assert rows[2]["value"] == 55.0 and rows[2]["unit"] == "%"
    with pytest.raises(KpiFileError) as caught:
        parse_kpi_csv("metric,period,value,target\nA,2026-13,1,2\nB,2026-01,x,2\n".encode())
    assert "2行目: period" in str(caught.value) and "3行目: value" in str(caught.value)
    with pytest.raises(KpiFileError, match="列がありません: target"):
        parse_kpi_csv(b"metric,period,value\n")


async def _history(store) -> None:
    t = lambda d, h=10: datetime(2026, 11, d, h, tzinfo=JST)
    await store.append(
        NewEvent("draft.completed", "d:1", {"user": "u1", "department": "市民課", "result": "ok"},
                 occurred_at=t(17)),
        NewEvent("draft.completed", "d:2", {"user": "u2", "department": "市民課", "result": "ok"},
                 occurred_at=t(18)),
        NewEvent("draft.completed", "d:3", {"user": "u1", "department": "市民課", "result": "template"},
                 occurred_at=t(19)),
        NewEvent("draft.blocked", "d:4", {"user": "u3", "department": "福祉課",
                                          "kinds": {"PHONE": 1, "PERSON": 2}}, occurred_at=t(19)),
        NewEvent("broadcast.sent", "b:1", {"id": 9, "targets": 4}, occurred_at=t(20, 10)),
        NewEvent("broadcast.answered", "b:1:a", {"id": 9, "user_id": "a", "answer": "無事"},
                 occurred_at=datetime(2026, 11, 20, 10, 1, tzinfo=JST)),
        NewEvent("broadcast.answered", "b:1:b", {"id": 9, "user_id": "b", "answer": "無事"},
                 occurred_at=datetime(2026, 11, 20, 10, 3, tzinfo=JST)),
        NewEvent("broadcast.answered", "b:1:b", {"id": 9, "user_id": "b", "answer": "軽傷"},
                 occurred_at=datetime(2026, 11, 20, 10, 9, tzinfo=JST)),
        NewEvent("status.looked_up", "l:1", {"user": "u1"}, occurred_at=t(21)),
        NewEvent("draft.completed", "d:5", {"user": "u9", "department": "市民課", "result": "ok"},
                 occurred_at=t(24)),  # the next week: not counted
    )


@pytest.fixture
async def world(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'kpi.db'}")
    upgrade(engine)
    store = EventStore(engine)
    await store.start()
    yield engine, store
    await store.stop()


async def test_digest_numbers_from_a_known_history(world):
    engine, store = world
    await _history(store)
    assert await import_file(engine, parse_kpi_csv(CSV.encode()), "k1") is True
    assert await import_file(engine, parse_kpi_csv(CSV.encode()), "k1") is False
    digest = build(store, engine, "weekly", datetime(2026, 11, 23, 9, tzinfo=JST), "Asia/Tokyo")
    assert digest["label"] == "2026-W47"
    usage = digest["usage"]
    assert usage["draft_uses"] == 3
    assert usage["active_users_by_department"] == {"市民課": 2}
    assert usage["pii_blocks_by_kind"] == {"PHONE": 1, "PERSON": 2}
    assert usage["broadcasts_sent"] == 1 and usage["acknowledgement_rate"] == 0.5
    assert usage["median_seconds_to_ack"] == 120.0  # 60 s and 180 s: first answers only
    assert usage["status_lookups"] == 1
    # The weekly digest shows weekly figures only: this file has none, and it says so.
    assert digest["metrics"] == [] and "週ごとの KPI はまだ" in text(digest)
    monthly = build(store, engine, "monthly", datetime(2026, 12, 1, 9, tzinfo=JST), "Asia/Tokyo")
    by_name = {m["metric"]: m for m in monthly["metrics"]}
    assert by_name["電子決裁率"]["value"] == 61 and by_name["電子決裁率"]["change"] == 6
    assert by_name["オンライン手続数"]["progress"] == 64.0  # kept per fiscal year, labelled so
    assert by_name["印刷枚数"]["status"] == "遅れ"  # it went up; lower is better
    rendered = text(monthly)
    assert "電子決裁率［2026-11］: 61%（前月比 +6%）" in rendered and "オンライン手続数［FY2026］" in rendered
    # As of early November the monthly digest covers October, not November's figures.
    october = build(store, engine, "monthly", datetime(2026, 11, 2, 9, tzinfo=JST), "Asia/Tokyo")
    assert {m["metric"]: m["period"] for m in october["metrics"]}["電子決裁率"] == "2026-10"


def test_chart_is_a_png_with_a_japanese_font():
    import matplotlib

    digest = {"label": "2026-W47", "metrics": [
        {"metric": "電子決裁率", "progress": 61.0, "status": "順調"},
        {"metric": "印刷枚数", "progress": 86.4, "status": "遅れ"}]}
    png = chart(digest)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width == 700 and height > 100
    import matplotlib_fontja  # noqa: F401
    from matplotlib import font_manager

    resolved = font_manager.findfont(font_manager.FontProperties(
        family=matplotlib.rcParams["font.family"]), fallback_to_default=False)
    assert "ipaexg" in resolved.lower()
    from PIL import Image  # matplotlib depends on Pillow

    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"


def test_holidays_move_to_the_next_business_day():
    monday_holiday = datetime(2026, 11, 23, 9, tzinfo=JST)  # 勤労感謝の日
    assert business_day(monday_holiday).date().isoformat() == "2026-11-24"


async def _services(database_url, now: datetime, instance: str):
    from bot.config import Settings
    from commands.context import Services

    engine = make_engine(database_url)
    upgrade(engine)
    store = EventStore(engine)
    await store.start()
    settings = Settings(database_url=database_url, kpi_channel="local:dx", instance=instance)
    services = Services(store=store, settings=settings, registry=None, clock=lambda: now)
    services.features["engine"] = engine
    return services


async def test_two_instances_post_one_digest_per_period(pg_url):
    now = datetime(2026, 11, 17, 9, 30, tzinfo=JST)  # Tuesday: Monday's run is due
    first, second = [await _services(pg_url, now, name) for name in ("a", "b")]
    posted = await asyncio.gather(run_due(first), run_due(second), run_due(first))
    assert sum(posted) == 1
    assert await run_due(second) == 0
    requests = first.store.read(0, types=["outbound.requested"])
    assert len(requests) == 1 and requests[0].payload["room"] == "dx"
    assert requests[0].payload["image"].endswith(".png")
    for services in (first, second):
        await services.store.stop()


async def test_a_restart_after_a_missed_monday_posts_it_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'k.db'}"
    # Down over Monday 2026-11-09; up again on Wednesday.
    wednesday = datetime(2026, 11, 11, 14, tzinfo=JST)
    services = await _services(url, wednesday, "a")
    assert await run_due(services) == 1
    await services.store.stop()
    restarted = await _services(url, wednesday, "a")
    assert await run_due(restarted) == 0
    [posted] = restarted.store.read(0, types=["kpi.digest_posted"])
    assert posted.payload["label"] == "2026-W45"
    await restarted.store.stop()


async def test_kpi_command_in_the_talk_room(bot):
    await bot.say("dx", "u1", "/kpi weekly")
    reply = await bot.wait_for("dx", None, lambda m: "DX KPI 週次まとめ" in m["text"])
    assert reply["image"]
    async with bot.session.get(bot.url(f"/api/blobs/{reply['image']}")) as resp:
        assert resp.status == 200 and (await resp.read())[:4] == b"\x89PNG"
    await bot.say("dx", "u1", "/kpi schedule add weekly dx")
    await bot.wait_for("dx", "u1", lambda m: "定期配信 s" in m["text"])
    await bot.settle()
    await bot.say("dx", "u1", "/kpi schedule")
    listing = await bot.wait_for("dx", "u1", lambda m: "KPI の定期配信" in m["text"])
    assert "weekly → dx" in listing["text"]
