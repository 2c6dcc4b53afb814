"""Slack end to end against a local stand-in of Slack's Web API: signed requests in, posts out,
exactly once across retries, 429s and lost answers; Socket Mode; payload mapping; Block Kit."""

from __future__ import annotations

import asyncio
import json
import time
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest

from bot.adapters import DeliveryError, RetryAfter
from bot.delivery import DeliveryWorker
from bot.slack import read_users, to_incoming
from bot.slack_blocks import SECTION_CHARS, our_action_id, ref_from_block, render
from bot.slack_outbound import ChannelPacer, SlackAdapter
from handlers.messages import Button, Outbound
from store import outbox
from store.coordination import MemoryCoordination
from store.db import make_engine
from store.events import EventStore, NewEvent
from store.migrate import upgrade
from store.outbox import OutboxProjection
from store.projections import ProjectionRunner
from tests.slack_standin import APP_TOKEN, BOT_TOKEN, BOT_USER, Fault, SlackStandIn, signed_headers

SECRET = "test-signing-secret"


@pytest.fixture
async def standin():
    stand_in = SlackStandIn()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


async def start_slack(start_bot, standin, **extra):
    return await start_bot(slack_bot_token=BOT_TOKEN, slack_signing_secret=SECRET,
                           slack_api_url=standin.api_url, **extra)


async def send(bot, body: str | bytes, *, content_type: str = "application/x-www-form-urlencoded",
               retry: int | None = None, **signing) -> tuple[int, str]:
    headers = signed_headers(SECRET, body, content_type=content_type, **signing)
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    async with bot.session.post(bot.url("/slack/events"), data=body, headers=headers) as resp:
        return resp.status, await resp.text()


def command(name: str, text: str = "", *, user: str = "U1", channel: str = "C1",
            channel_name: str = "general", trigger: str = "1.2.3", response_url: str = "") -> str:
    return urlencode({"command": name, "text": text, "user_id": user, "channel_id": channel,
                      "channel_name": channel_name, "trigger_id": trigger, "team_id": "T0TEAM",
                      "response_url": response_url})


def mention(text: str, *, event_id: str = "Ev1", channel: str = "C1", user: str = "U1",
            ts: str = "1700000100.000100", thread_ts: str | None = None) -> dict:
    event = {"type": "app_mention", "user": user, "text": text, "ts": ts, "channel": channel}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return {"type": "event_callback", "team_id": "T0TEAM", "event_id": event_id,
            "event_time": 1700000100, "event": event,
            "authorizations": [{"user_id": BOT_USER, "is_bot": True}]}


def block_actions(action_id: str, value: str, *, response_url: str, block_id: str = "chonai0",
                  channel: str = "C1", user: str = "U1", trigger: str = "9.9.9") -> str:
    payload = {
        "type": "block_actions", "team": {"id": "T0TEAM"}, "user": {"id": user},
        "trigger_id": trigger, "response_url": response_url,
        "channel": {"id": channel, "name": "general"},
        "container": {"type": "message", "channel_id": channel, "message_ts": "1700000000.000001"},
        "message": {"ts": "1700000000.000001", "text": "…"},
        "actions": [{"type": "button", "action_id": action_id, "block_id": block_id,
                     "value": value, "action_ts": "1700000200.1"}]}
    return urlencode({"payload": json.dumps(payload)})


async def wait_until(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := predicate():
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def received(bot) -> list:
    return bot.runtime.store.read(0, types=["incoming.received"])


# -- inbound over HTTP ----------------------------------------------------------------------------
async def test_help_by_slash_command_is_acked_then_answered(start_bot, standin):
    bot = await start_slack(start_bot, standin)
    status, text = await send(bot, command("/help"))
    assert (status, text) == (200, "")
    assert len(received(bot)) == 1  # in the log before the ack
    await bot.settle()
    [post] = standin.posts("C1")
    assert "/draft" in post["text"] and "/broadcast" in post["text"]
    assert post["blocks"][0]["type"] == "section"
    assert post["metadata"]["event_type"] == "chonai_outbox"
    [event] = received(bot)
    assert event.platform == "slack"
    assert event.payload["command"] == "help" and event.payload["room"] == "C1"


async def test_help_by_mention_answers_in_its_thread(start_bot, standin):
    bot = await start_slack(start_bot, standin)
    body = mention("<@U0BOT> ヘルプ", thread_ts="1700000000.000050")
    status, _ = await send(bot, json.dumps(body), content_type="application/json")
    assert status == 200
    await bot.settle()
    [post] = standin.posts("C1")
    assert "/help" in post["text"] and post["thread_ts"] == "1700000000.000050"
    [event] = received(bot)
    assert event.payload["kind"] == "mention" and event.payload["text"] == "ヘルプ"


async def test_a_direct_message_is_answered_in_the_dm(start_bot, standin):
    bot = await start_slack(start_bot, standin)
    body = {"type": "event_callback", "event_id": "EvDM", "event": {
        "type": "message", "channel_type": "im", "channel": "D0U1", "user": "U1",
        "text": "help", "ts": "1700000300.000001"}}
    status, _ = await send(bot, json.dumps(body), content_type="application/json")
    assert status == 200
    await bot.settle()
    [post] = standin.posts("D0U1")
    assert "/draft" in post["text"]
    assert received(bot)[0].payload["room"] == "dm:U1"


@pytest.mark.parametrize("signature, skew", [("v0=" + "0" * 64, 0), (None, -6 * 60),
                                             (None, 6 * 60)])
async def test_unsigned_or_stale_requests_get_401_and_append_nothing(start_bot, standin,
                                                                     signature, skew):
    bot = await start_slack(start_bot, standin)
    status, _ = await send(bot, command("/help"), signature=signature,
                           timestamp=int(time.time()) + skew)
    assert status == 401
    async with bot.session.post(bot.url("/slack/events"), data=command("/help")) as resp:
        assert resp.status == 401  # no signature headers at all
    await asyncio.sleep(0.2)
    assert bot.runtime.store.head()[0] == 0
    assert standin.calls == []


@pytest.mark.parametrize("shared", ["process", "redis"])
async def test_a_mention_delivered_three_times_is_answered_once(start_bot, standin, shared,
                                                                request):
    extra = {"redis_url": request.getfixturevalue("redis_url")} if shared == "redis" else {}
    bot = await start_slack(start_bot, standin, **extra)
    recorded = []
    accept = bot.runtime.accept

    async def counting_accept(incoming):
        recorded.append(incoming.delivery_id)
        return await accept(incoming)

    bot.runtime.accept = counting_accept
    body = json.dumps(mention("<@U0BOT> help", event_id="EvRetry"))
    for retry in (None, 1, 2):
        status, _ = await send(bot, body, content_type="application/json", retry=retry)
        assert status == 200
    await bot.settle()
    assert len(standin.posts("C1")) == 1
    assert len(received(bot)) == 1
    # With Redis the retries stop at the shared marker; without it the log's key stops them.
    assert len(recorded) == (1 if shared == "redis" else 3)


async def test_exactly_once_on_postgresql_too(start_bot, standin, pg_url):
    bot = await start_slack(start_bot, standin, database_url=pg_url)
    for retry in (None, 1):
        status, _ = await send(bot, command("/help", trigger="pg.1"), retry=retry)
        assert status == 200
    await bot.settle()
    assert len(standin.posts("C1")) == 1 and len(received(bot)) == 1


async def test_a_request_the_log_refused_is_recorded_on_slacks_retry(start_bot, standin,
                                                                     redis_url):
    bot = await start_slack(start_bot, standin, redis_url=redis_url)
    accept = bot.runtime.accept
    calls = []

    async def failing_once(incoming):
        calls.append(incoming.delivery_id)
        if len(calls) == 1:
            raise ConnectionError("database away")
        return await accept(incoming)

    bot.runtime.accept = failing_once
    body = json.dumps(mention("<@U0BOT> help", event_id="EvDown"))
    status, _ = await send(bot, body, content_type="application/json")
    assert status >= 500  # not acknowledged: Slack will retry
    assert bot.runtime.store.head()[0] == 0
    status, _ = await send(bot, body, content_type="application/json", retry=1)
    assert status == 200
    await bot.settle()
    assert len(calls) == 2 and len(received(bot)) == 1
    assert len(standin.posts("C1")) == 1


async def test_a_button_press_reaches_its_action_handler(start_bot, standin):
    bot = await start_slack(start_bot, standin)
    seen = []

    async def pressed(ctx):
        seen.append(ctx.incoming)
        ctx.reply(f"受け付けました: {ctx.args}", private=True)

    bot.runtime.registry.actions["test."] = pressed
    hook = standin.hook_url()
    status, _ = await send(bot, block_actions("test.ack|#1", "yes", response_url=hook,
                                              block_id="chonai0:notice-7"))
    assert status == 200
    await bot.settle()
    [incoming] = seen
    assert (incoming.kind, incoming.action_id, incoming.value) == ("action", "test.ack", "yes")
    assert incoming.reply["ref"] == "notice-7"
    assert incoming.message_id == "1700000000.000001"
    [answer] = standin.hook_posts
    assert answer["hook"] == hook.rsplit("/", 1)[1]
    assert answer["response_type"] == "ephemeral" and "yes" in answer["text"]


@pytest.mark.parametrize("body, content_type", [
    (urlencode({"payload": "{not json"}), "application/x-www-form-urlencoded"),
    ("{not json", "application/json"),
    ("[1, 2]", "application/json"),
    (b"\xff\xfe\xfd", "application/x-www-form-urlencoded"),
    ("", "application/json"),
    (json.dumps({"type": "event_callback", "event": "nonsense"}), "application/json"),
    (urlencode({"payload": json.dumps({"type": "block_actions", "actions": [1]})}),
     "application/x-www-form-urlencoded"),
])
async def test_malformed_bodies_get_4xx_and_append_nothing(start_bot, standin, body,
                                                           content_type):
    bot = await start_slack(start_bot, standin)
    status, _ = await send(bot, body, content_type=content_type)
    assert 400 <= status < 500
    assert bot.runtime.store.head()[0] == 0
    async with bot.session.get(bot.url("/healthz")) as resp:
        assert resp.status == 200


async def test_a_body_over_1_mb_is_refused(start_bot, standin):
    bot = await start_slack(start_bot, standin)
    huge = "x" * (2 * 1024 * 1024)
    async with bot.session.post(bot.url("/slack/events"), data=huge,
                                headers=signed_headers(SECRET, huge)) as resp:
        assert resp.status == 413
    assert bot.runtime.store.head()[0] == 0


async def test_events_not_for_the_bot_are_acked_and_not_recorded(start_bot, standin):
    bot = await start_slack(start_bot, standin)
    own = {"type": "event_callback", "event_id": "EvOwn", "event": {
        "type": "message", "channel_type": "im", "channel": "D0U1", "bot_id": "B0BOT",
        "text": "/help", "ts": "1.1"}}
    reaction = {"type": "event_callback", "event_id": "EvR", "event": {"type": "reaction_added"}}
    for body in (own, reaction):
        status, _ = await send(bot, json.dumps(body), content_type="application/json")
        assert status == 200
    status, text = await send(bot, json.dumps({"type": "url_verification", "challenge": "c-1"}),
                              content_type="application/json")
    assert status == 200 and json.loads(text)["challenge"] == "c-1"
    assert bot.runtime.store.head()[0] == 0


# -- outbound: rate limits, lost answers, crashes -----------------------------------------------
async def test_a_429_is_waited_out_and_the_post_arrives_once(start_bot, standin):
    bot = await start_slack(start_bot, standin)
    standin.fail("chat.postMessage", Fault(status=429, retry_after=1))
    await send(bot, command("/help"))
    await wait_until(lambda: standin.posts("C1"))
    await bot.settle()
    assert len(standin.posts("C1")) == 1
    assert len(standin.calls_to("chat.postMessage")) == 2
    assert standin.calls_to("conversations.history") == []  # known not sent: no look-up
    assert len(bot.runtime.store.read(0, types=["outbound.delivered"])) == 1


async def test_a_lost_answer_is_reconciled_without_a_second_post(start_bot, standin):
    bot = await start_slack(start_bot, standin)
    standin.fail("chat.postMessage", Fault(drop_answer=True))
    await send(bot, command("/help"))
    await wait_until(lambda: bot.runtime.store.read(0, types=["outbound.delivered"]))
    await bot.settle()
    assert len(standin.posts("C1")) == 1
    assert len(standin.calls_to("chat.postMessage")) == 1
    assert standin.calls_to("conversations.history")
    [delivered] = bot.runtime.store.read(0, types=["outbound.delivered"])
    assert delivered.payload["result"]["ts"] == standin.posts("C1")[0]["ts"]


async def _worker(tmp_path, adapter):
    engine = make_engine(f"sqlite:///{tmp_path / 'out.db'}")
    upgrade(engine)
    store = EventStore(engine)
    await store.start()
    runner = ProjectionRunner(engine, [OutboxProjection()])
    worker = DeliveryWorker(store, {"slack": adapter}, owner="w1",
                            before_claim=runner.catch_up_all)
    return engine, store, worker


def _adapter(standin, tmp_path, **settings) -> SlackAdapter:
    values = {f"chonai_{k}": str(v) for k, v in settings.items()}
    config = SimpleNamespace(get=lambda name, default="": values.get(name, default))
    engine = make_engine(f"sqlite:///{tmp_path / 'directory.db'}")
    upgrade(engine)
    return SlackAdapter(config, engine, MemoryCoordination(), token=BOT_TOKEN,
                        api_url=standin.api_url)


async def test_a_crash_between_send_and_confirmation_is_reconciled(standin, tmp_path):
    adapter = _adapter(standin, tmp_path)
    await adapter.open()
    engine, store, worker = await _worker(tmp_path, adapter)
    out = Outbound("slack", "dm:U0DM2", "安否を確認してください。", ref="notice-1")
    await store.append(NewEvent("outbound.requested", "outbox:slack:dm:U0DM2", out.to_payload()))
    await worker.before_claim()
    [job] = outbox.claim(engine, "dead-instance", lease=0.01, platforms=["slack"])
    await adapter.deliver(job.id, Outbound.from_payload(job.body), None)  # sent, then "crash"
    await asyncio.sleep(0.05)  # the dead instance's lease runs out
    assert await worker.run_once()
    assert len(standin.calls_to("chat.postMessage")) == 1
    assert len(standin.posts("D0DM2")) == 1
    assert standin.calls_to("conversations.open")  # the DM's history needs its channel id
    assert outbox.counts(engine) == {"done": 1}
    await store.stop()
    await adapter.close()


async def test_outbound_shapes(standin, tmp_path):
    adapter = _adapter(standin, tmp_path)
    await adapter.open()
    buttons = (Button("既読", "notice.read", "1", "primary"), Button("無事", "notice.safe", "1"))
    first = await adapter.deliver(1, Outbound("slack", "C1", "a & <b>", buttons=buttons,
                                              ref="notice-1"), None)
    [post] = standin.posts("C1")
    assert post["text"] == "a &amp; &lt;b&gt;"
    actions = post["blocks"][-1]
    assert actions["block_id"] == "chonai0:notice-1"
    assert [e["action_id"] for e in actions["elements"]] == ["notice.read", "notice.safe"]
    updated = await adapter.deliver(2, Outbound("slack", "C1", "集計: 3人", update=True,
                                                ref="notice-1"), first)
    assert updated["ts"] == first["ts"] and post["text"] == "集計: 3人" and post["edited"]
    await adapter.deliver(3, Outbound("slack", "C1", "あなただけに", private_to="U1"), None)
    assert standin.ephemeral[0]["user"] == "U1"
    await adapter.deliver(4, Outbound("slack", "C1", "スレッド", thread="1700000000.000001"), None)
    assert standin.posts("C1")[-1]["thread_ts"] == "1700000000.000001"
    dm = await adapter.deliver(5, Outbound("slack", "dm:U0DM7", "DM です"), None)
    assert dm["channel"] == "D0DM7"
    standin.not_member.add("C9")
    hook = standin.hook_url()
    via = await adapter.deliver(6, Outbound("slack", "C9", "回答", reply={"response_url": hook}),
                                None)
    assert via["via"] == "response_url" and standin.hook_posts[-1]["response_type"] == "in_channel"
    with pytest.raises(DeliveryError) as failed:
        await adapter.deliver(7, Outbound("slack", "C9", "届かない"), None)
    assert failed.value.permanent and failed.value.reason == "not_in_channel"
    evil = await adapter.deliver(8, Outbound("slack", "C1", "x", private_to="U1", reply={
        "response_url": "https://attacker.example/hook"}), None)
    assert evil.get("ephemeral") and "via" not in evil  # foreign response_url is not used
    await adapter.close()


async def test_a_busy_channel_requeues_instead_of_blocking_the_worker(standin, tmp_path):
    adapter = _adapter(standin, tmp_path, slack_channel_rate=0.5, slack_channel_burst=1)
    await adapter.open()
    await adapter.deliver(1, Outbound("slack", "C1", "一通目"), None)
    with pytest.raises(RetryAfter) as wait:
        await adapter.deliver(2, Outbound("slack", "C1", "二通目"), None)
    assert wait.value.seconds > 1
    assert len(standin.posts("C1")) == 1
    assert await adapter.lookup(2, Outbound("slack", "C1", "二通目")) is None
    assert standin.calls_to("conversations.history") == []  # known unsent: nothing to look up
    await adapter.deliver(3, Outbound("slack", "C2", "別のチャンネル"), None)
    assert len(standin.posts("C2")) == 1
    await adapter.close()


async def test_an_image_is_uploaded_and_shown_in_the_post(standin, tmp_path, monkeypatch):
    import sys
    import types

    blobs = types.ModuleType("store.blobs")  # the blob store's interface, as the KPI digest uses it
    blobs.get_blob = lambda engine, name: ("image/png", b"\x89PNG-chart") if name == "kpi-1" \
        else None
    monkeypatch.setitem(sys.modules, "store.blobs", blobs)
    adapter = _adapter(standin, tmp_path)
    await adapter.open()
    await adapter.deliver(1, Outbound("slack", "C1", "週次KPI", image="kpi-1"), None)
    [post] = standin.posts("C1")
    [image] = [b for b in post["blocks"] if b["type"] == "image"]
    assert standin.uploads[image["slack_file"]["id"]] == b"\x89PNG-chart"
    assert [c.method for c in standin.calls] == [
        "files.getUploadURLExternal", "files.completeUploadExternal", "chat.postMessage"]
    await adapter.deliver(2, Outbound("slack", "C1", "画像なし", image="missing"), None)
    assert "image" not in [b["type"] for b in standin.posts("C1")[-1]["blocks"]]
    await adapter.close()


async def test_a_dm_to_a_directory_person_goes_to_their_slack_account(standin, tmp_path):
    from commands.staff import replace_directory

    adapter = _adapter(standin, tmp_path)
    await adapter.open()
    await replace_directory(adapter.engine, [
        {"user_id": "taro", "name": "山田 太郎", "department": "総務課", "roles": [],
         "platform_ids": {"slack": "U0TARO"}},
        {"user_id": "hanako", "name": "佐藤 花子", "department": "企画課", "roles": [],
         "platform_ids": {}}])
    result = await adapter.deliver(1, Outbound("slack", "dm:taro", "安否を確認してください。"),
                                   None)
    assert result["channel"] == "D0TARO" and len(standin.posts("D0TARO")) == 1
    with pytest.raises(DeliveryError) as unknown:
        await adapter.deliver(2, Outbound("slack", "dm:hanako", "x"), None)
    assert unknown.value.permanent and unknown.value.reason == "user_not_found"
    await adapter.close()


async def test_staff_sync_reads_slack_and_keeps_departments_and_roles(standin, tmp_path,
                                                                     monkeypatch):
    from bot.cli import main
    from store.staff import people

    data = tmp_path / "data"
    for name, value in {"CHONAI_DATA_DIR": str(data), "CHONAI_PII_KEY": "k",
                        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": standin.api_url}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    directory = tmp_path / "staff.csv"
    directory.write_text("user_id,name,department,roles,platform_ids\n"
                         "taro,山田 太郎,総務課,coordinator;hq,slack:U0TARO\n"
                         "jiro,鈴木 次郎,税務課,,lineworks:jiro-lw\n", encoding="utf-8")
    standin.users = [
        {"id": "U0TARO", "profile": {"real_name": "山田 太郎", "title": "主査"}},
        {"id": f"U{'0' * 4}NEW", "profile": {"real_name": "新人 三郎"}},
        {"id": "U0GONE", "deleted": True, "profile": {"real_name": "退職 者"}},
        {"id": "B0BOT", "is_bot": True}]
    assert await asyncio.to_thread(main, ["staff", "import", str(directory)]) == 0
    assert await asyncio.to_thread(main, ["staff", "sync"]) == 0
    engine = make_engine(f"sqlite:///{data / 'chonai.db'}")
    found = {p.user_id: p for p in people(engine)}
    assert set(found) == {"taro", "jiro", "U0000NEW"}
    assert (found["taro"].department, found["taro"].roles) == ("総務課", ("coordinator", "hq"))
    assert found["taro"].platform_ids == {"slack": "U0TARO"}
    assert found["jiro"].platform_ids == {"lineworks": "jiro-lw"}
    assert found["U0000NEW"].name == "新人 三郎"
    assert found["U0000NEW"].platform_ids == {"slack": "U0000NEW"}
    engine.dispose()


async def test_staff_sync_never_overwrites_an_import_made_meanwhile(standin, tmp_path,
                                                                  monkeypatch):
    from bot.slack import SyncRefused, sync_staff
    from bot.config import load
    from commands.staff import replace_directory
    from store import staff as staff_store
    from store.migrate import upgrade

    settings = load({"CHONAI_DATA_DIR": str(tmp_path / "data"), "SLACK_BOT_TOKEN": BOT_TOKEN,
                     "SLACK_API_URL": standin.api_url}, path=str(tmp_path / "none.toml"))
    engine = make_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    upgrade(engine)
    person = {"user_id": "taro", "name": "山田 太郎", "department": "総務課", "roles": ["hq"],
              "platform_ids": {"slack": "U0TARO"}}
    await replace_directory(engine, [person])
    standin.users = [{"id": "U0TARO", "profile": {"real_name": "山田 太郎"}},
                     {"id": "U0SLACK", "profile": {"real_name": "新人 三郎"}}]
    read = staff_store.directory_from_log
    imports = []

    def read_then_someone_imports(store):
        found = read(store)
        if not imports:  # an import lands between the sync's read and its write
            imports.append(asyncio.run(replace_directory(engine, [person, {
                "user_id": "jiro", "name": "鈴木 次郎", "department": "税務課", "roles": [],
                "platform_ids": {}}])))
        return found

    monkeypatch.setattr(staff_store, "directory_from_log", read_then_someone_imports)
    assert await sync_staff(settings, engine) == (3, 1)
    assert {p.user_id for p in staff_store.people(engine)} == {"taro", "jiro", "U0SLACK"}

    standin.users = []  # a workspace answering with nobody: the directory is left alone
    with pytest.raises(SyncRefused):
        await sync_staff(settings, engine)
    assert {p.user_id for p in staff_store.people(engine)} == {"taro", "jiro", "U0SLACK"}
    engine.dispose()


def test_channel_pacer_is_a_token_bucket():
    pacer = ChannelPacer(rate=1.0, burst=2)
    assert [pacer.reserve("C1", 100.0) for _ in range(4)] == [100.0, 100.0, 101.0, 102.0]
    assert pacer.reserve("C2", 100.0) == 100.0
    assert pacer.reserve("C1", 110.0) == 110.0  # refilled
    pacer.hold("C3", 105.0)
    assert pacer.reserve("C3", 100.0) >= 105.0


# -- Socket Mode -----------------------------------------------------------------------------------
async def test_socket_mode_acks_dedupes_and_reconnects(start_bot, standin):
    bot = await start_bot(slack_bot_token=BOT_TOKEN, slack_app_token=APP_TOKEN,
                          slack_api_url=standin.api_url)
    await standin.wait_connected()
    payload = {"command": "/help", "text": "", "user_id": "U1", "channel_id": "C5",
               "channel_name": "general", "trigger_id": "5.5.5"}
    envelope = await standin.send_envelope("slash_commands", payload)
    await standin.wait_ack(envelope)
    event = mention("<@U0BOT> help", event_id="EvSock", channel="C6")
    for attempt in (None, 1):
        await standin.wait_ack(await standin.send_envelope("events_api", event, attempt))
    await bot.settle()
    assert len(standin.posts("C5")) == 1 and len(standin.posts("C6")) == 1
    await standin.drop_sockets()
    await wait_until(lambda: standin.connections >= 2 and standin.sockets)
    await standin.wait_ack(await standin.send_envelope(
        "slash_commands", {**payload, "channel_id": "C7", "trigger_id": "7.7.7"}))
    await bot.settle()
    assert len(standin.posts("C7")) == 1
    async with bot.session.post(bot.url("/slack/events"), data="x") as resp:
        assert resp.status in (404, 405)  # Socket Mode instead of HTTP


async def test_slack_stays_off_unless_configured(bot):
    async with bot.session.post(bot.url("/slack/events"), data="x") as resp:
        assert resp.status in (404, 405)
    assert "slack" not in bot.runtime.adapters


# -- mapping and rendering -------------------------------------------------------------------------
def test_payloads_map_to_neutral_requests():
    from urllib.parse import parse_qsl

    slash = dict(parse_qsl(command("/DRAFT", "異動の挨拶 &amp; お礼", channel="D0U1",
                                   channel_name="directmessage", response_url="https://h")))
    incoming = to_incoming(slash)
    assert (incoming.kind, incoming.command, incoming.text) == ("command", "draft",
                                                                "異動の挨拶 & お礼")
    assert incoming.room == "dm:U1" and incoming.reply["channel"] == "D0U1"
    assert incoming.delivery_id == "cmd:1.2.3"
    as_command = to_incoming(mention("<@U0BOT> /status R7-000123"))
    assert (as_command.kind, as_command.command, as_command.text) == (
        "command", "status", "R7-000123")
    question = to_incoming(mention("<@U0BOT>　庁舎の開庁時間は？ <@U2> さんへ"))
    assert question.kind == "mention" and question.text == "庁舎の開庁時間は？ <@U2> さんへ"
    assert question.message_id == "1700000100.000100" and question.delivery_id == "ev:Ev1"
    edited = mention("<@U0BOT> help")
    edited["event"]["subtype"] = "message_changed"
    assert to_incoming(edited) is None
    form = block_actions("vote.yes|#2", "3", response_url="https://h", block_id="chonai1:poll:9")
    press = to_incoming(json.loads(dict(parse_qsl(form))["payload"]))
    assert (press.kind, press.action_id, press.value) == ("action", "vote.yes", "3")
    assert press.reply["ref"] == "poll:9" and press.delivery_id == "act:9.9.9"
    assert to_incoming({"type": "view_submission"}) is None


def test_block_kit_rendering():
    long_text = "\n".join(f"{i:04d} " + "あ" * 95 for i in range(100))  # ~10,000 characters
    text, blocks = render(Outbound("slack", "C1", long_text, buttons=tuple(
        Button(f"選択{i}", "poll.vote", str(i)) for i in range(30)), ref="poll:1"))
    sections = [b for b in blocks if b["type"] == "section"]
    actions = [b for b in blocks if b["type"] == "actions"]
    assert len(sections) == 4 and all(len(b["text"]["text"]) <= SECTION_CHARS for b in sections)
    assert "".join(b["text"]["text"] for b in sections).replace("\n", "") == long_text.replace(
        "\n", "")
    assert [len(b["elements"]) for b in actions] == [25, 5]
    ids = [e["action_id"] for e in actions[0]["elements"]]
    assert len(set(ids)) == 25 and {our_action_id(i) for i in ids} == {"poll.vote"}
    assert [ref_from_block(b["block_id"]) for b in actions] == ["poll:1", "poll:1"]
    assert text == long_text
    _, huge = render(Outbound("slack", "C1", "x" * 200_000))
    assert len(huge) == 50 and huge[-1]["text"]["text"].endswith("省略しました）")
    _, labelled = render(Outbound("slack", "C1", "t", buttons=(Button("長" * 100, "a"),)))
    assert len(labelled[-1]["elements"][0]["text"]["text"]) == 75


async def test_users_are_read_from_every_page(standin):
    standin.users = [{"id": f"U{i:04d}", "name": f"user{i}", "profile": {
        "real_name": f"職員 {i}", "title": "主事"}} for i in range(450)]
    standin.users += [{"id": "B1", "is_bot": True}, {"id": "U9999", "deleted": True},
                      {"id": "USLACKBOT"}]
    settings = SimpleNamespace(slack_bot_token=BOT_TOKEN, slack_api_url=standin.api_url)
    people = await read_users(settings)
    assert len(people) == 450 and people[0] == {"id": "U0000", "name": "職員 0", "title": "主事"}
    assert len(standin.calls_to("users.list")) == 3
