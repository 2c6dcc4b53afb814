"""Automatic safety confirmation from JMA reports, against a local server serving the feed."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from commands.jma import FeedReader, WatchConfig, poll_once
from commands.staff import parse_directory, replace_directory
from handlers.jma import rule
from handlers.jma.report import ReportError, parse_report
from tests.jma_fixtures import BILLION_LAUGHS, feed, report

STAFF = ("user_id,name,department,roles\nhq,本部,危機管理課,broadcaster\n"
         + "".join(f"s{i},職員{i},防災課,\n" for i in range(5))).encode()


def test_reports_are_read():
    r = parse_report(report("VXSE53", serial=2, max_int="6-"))
    assert (r.kind, r.event_id, r.serial, r.info_type, r.status) == ("VXSE53", "20261122141000", 2, "発表", "通常")
    assert r.epicentre == "東京湾" and r.magnitude == "5.9" and r.max_int == "6-"
    assert r.areas[0].city == "東京品川区" and r.areas[0].city_code == "1310900"
    quick = parse_report(report("VXSE51"))
    assert quick.kind == "VXSE51" and quick.areas[0].area == "東京都２３区" and quick.areas[0].city == ""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, b"<Report><Control>", b"\x00\xff", b"<feed/>"])
def test_hostile_or_malformed_xml_is_rejected(data):
    with pytest.raises(ReportError):
        parse_report(data)


def test_area_matching_and_intensities():
    areas = rule.Areas.parse("品川区,2720300")
    assert areas.matches("東京品川区", "1310900")
    assert areas.matches("大阪堺市堺区", "2720300")
    assert not areas.matches("東京大田区", "1311100")
    assert rule.level("5-") < rule.level("5+") < rule.level("6-") and rule.level("5弱") == rule.level("5-")


class JmaServer:
    def __init__(self) -> None:
        self.documents: dict[str, bytes] = {}
        self.feed_links: list[tuple[str, str]] = []
        self.requests: list[tuple[str, dict]] = []
        self.server: TestServer | None = None

    async def start(self) -> "JmaServer":
        app = web.Application()
        app.router.add_get("/feed.xml", self.feed)
        app.router.add_get("/data/{name}", self.document)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return self

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def publish(self, name: str, title: str, data: bytes) -> None:
        self.documents[name] = data
        self.feed_links.insert(0, (title, self.url(f"/data/{name}")))

    async def feed(self, request: web.Request) -> web.Response:
        self.requests.append(("feed", dict(request.headers)))
        etag = f'"{len(self.feed_links)}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304)
        return web.Response(body=feed(self.feed_links), content_type="application/atom+xml",
                            headers={"ETag": etag, "Last-Modified": "Sun, 22 Nov 2026 05:12:00 GMT"})

    async def document(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.requests.append((name, {}))
        return web.Response(body=self.documents[name], content_type="application/xml")


@pytest.fixture
async def jma():
    server = await JmaServer().start()
    yield server
    await server.server.close()


@pytest.fixture
async def watch(bot, jma):
    await replace_directory(bot.runtime.engine, parse_directory(STAFF))
    services = bot.runtime.services
    settings = services.settings
    extra = {**settings.extra, "chonai_jma_feed": jma.url("/feed.xml"),
             "chonai_jma_areas": "品川区,東京都２３区", "chonai_jma_room": "local:hq"}
    config = WatchConfig.from_settings(type(settings)(**{**settings.__dict__, "extra": extra}))
    session = aiohttp.ClientSession()
    reader = FeedReader(session, config.feed)
    yield bot, services, config, reader
    await session.close()


async def test_one_broadcast_per_earthquake_then_a_cancellation(watch, jma):
    bot, services, config, reader = watch
    jma.publish("1_VXSE51.xml", "震度速報", report("VXSE51"))
    assert await poll_once(services, config, reader) == ["proposed"]
    offer = await bot.wait_for("hq", None, lambda m: "自動提案" in m["text"])
    assert "震度5弱" in offer["text"] and offer["buttons"][0]["action_id"] == "broadcast.send"

    jma.publish("2_VXSE51.xml", "震度速報", report("VXSE51", serial=2))
    jma.publish("3_VXSE53.xml", "震源・震度に関する情報", report("VXSE53", serial=3))
    assert await poll_once(services, config, reader) == ["suppressed", "suppressed"]
    # Unchanged feed: a conditional GET answered 304, nothing fetched again.
    fetched = len(jma.requests)
    assert await poll_once(services, config, reader) == []
    assert len(jma.requests) == fetched + 1 and "If-None-Match" in jma.requests[-1][1]

    # A broadcaster sends it; every staff member gets one DM.
    status, _ = await bot.press("hq", "hq", offer, "broadcast.send", offer["buttons"][0]["value"])
    assert status == 202
    await bot.settle()
    # The proposal that was pressed no longer offers 送信／取消.
    [card] = [m for m in await bot.messages("hq", "hq") if m["id"] == offer["id"]]
    assert "【送信済み】" in card["text"] and card["buttons"] == []
    [notice] = await bot.messages("dm:s0", "s0")
    assert "東京都２３区 震度5弱" in notice["text"] and len(notice["buttons"]) == 6

    jma.publish("4_VXSE53.xml", "震源・震度に関する情報", report("VXSE53", serial=4, max_int="6-"))
    assert await poll_once(services, config, reader) == ["updated"]
    jma.publish("5_VXSE53.xml", "震源・震度に関する情報", report("VXSE53", serial=5, info_type="取消"))
    assert await poll_once(services, config, reader) == ["cancelled"]
    await bot.settle()
    texts = [m["text"] for m in await bot.messages("dm:s0", "s0")]
    assert len(texts) == 2 and "【取消】" in texts[1]
    reasons = [e.payload["decision"] for e in bot.runtime.store.read(0, types=["jma.decided"])]
    assert reasons == ["proposed", "suppressed", "suppressed", "updated", "cancelled"]


async def test_other_prefecture_weak_shaking_drills_and_hostile_documents_do_nothing(watch, jma):
    bot, services, config, reader = watch
    jma.publish("a_VXSE51.xml", "震度速報", report("VXSE51", event_id="1", pref=("大阪府", "27"),
                                           area=("大阪府北部", "580"), city=None))
    jma.publish("b_VXSE53.xml", "震度速報", report("VXSE53", event_id="2", max_int="4"))
    jma.publish("c_VXSE51.xml", "震度速報", report("VXSE51", event_id="3", status="訓練"))
    jma.publish("d_VXSE51.xml", "震度速報", BILLION_LAUGHS)
    decisions = await poll_once(services, config, reader)
    assert decisions == ["not_matched", "not_matched", "ignored", "rejected"]
    await bot.settle()
    assert bot.runtime.store.read(0, types=["broadcast.prepared"]) == []
    assert all(m["user"] != "chonai" for m in await bot.messages("hq"))


async def test_on_a_slack_only_deployment_the_proposal_reaches_broadcasters_by_dm(start_bot, jma):
    """Default settings (no CHONAI_JMA_ROOM): every broadcaster gets the proposal privately on
    the platform they use; a bare channel id for the KPI digest means Slack."""
    from commands.kpi import schedules
    from tests.slack_standin import SlackStandIn
    from tests.test_slack import start_slack

    standin = SlackStandIn()
    await standin.start()
    try:
        bot = await start_slack(start_bot, standin, kpi_channel="C0123ABC", extra={
            "chonai_jma_feed": jma.url("/feed.xml"), "chonai_jma_areas": "品川区,東京都２３区"})
        await replace_directory(bot.runtime.engine, parse_directory(
            "user_id,name,department,roles,platform_ids\nhq,本部,危機管理課,broadcaster,slack:UHQ\n"
            "s1,職員,市民課,,slack:US1\n".encode()))
        services = bot.runtime.services
        config = WatchConfig.from_settings(services.settings)
        assert (config.platform, config.room) == ("slack", "")
        async with aiohttp.ClientSession() as session:
            jma.publish("1_VXSE51.xml", "震度速報", report("VXSE51"))
            assert await poll_once(services, config, FeedReader(session, config.feed)) == ["proposed"]
        await bot.settle()
        offers = [p for p in standin.posts() if "自動提案" in p.get("text", "")]
        assert [o["channel"] for o in offers] == ["DHQ"]  # a DM to the broadcaster alone
        assert [b["action_id"] for b in offers[0]["blocks"][-1]["elements"]] == \
            ["broadcast.send", "broadcast.cancel"]
        [schedule] = [s for s in schedules(services) if s["id"] == "default"]
        assert (schedule["platform"], schedule["room"]) == ("slack", "C0123ABC")
    finally:
        await standin.stop()


def test_a_bare_destination_with_several_platforms_stops_the_start():
    from bot.config import Settings, start_problems

    settings = Settings(slack_bot_token="xoxb", slack_signing_secret="s", webhook_secret="w",
                        webhook_outbound_url="http://127.0.0.1:1/out", kpi_channel="C0123ABC")
    [problem] = start_problems(settings)
    assert "CHONAI_KPI_CHANNEL" in problem
    unconfigured = Settings(kpi_channel="lineworks:room1")
    [problem] = start_problems(unconfigured)
    assert "CHONAI_KPI_CHANNEL" in problem and "lineworks" in problem
