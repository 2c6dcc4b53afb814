"""The local talk room end to end: commands, help, bad input, read marks."""

from __future__ import annotations

import pytest


async def test_help_lists_every_command(bot):
    await bot.say("general", "staff01", "/help")
    reply = await bot.wait_for("general", None, lambda m: "/draft" in m["text"])
    for name in ("/draft", "/broadcast", "/here", "/where", "/status", "/kpi"):
        assert name in reply["text"]


async def test_mention_help(bot):
    await bot.say("general", "staff01", "@chonai ヘルプ")
    reply = await bot.wait_for("general", None, lambda m: "/help" in m["text"])
    assert "コマンド" in reply["text"]


async def test_unknown_command_is_explained(bot):
    await bot.say("general", "staff01", "/frobnicate now")
    reply = await bot.wait_for("general", "staff01", lambda m: "frobnicate" in m["text"])
    assert "/help" in reply["text"] and reply["private_to"] == "staff01"
    await bot.say("general", "staff01", "/hlep")
    hint = await bot.wait_for("general", "staff01", lambda m: "/help のことですか" in m["text"])
    assert hint["private_to"] == "staff01"


async def test_plain_message_is_stored_but_not_recorded(bot):
    await bot.say("general", "staff01", "おはようございます")
    messages = await bot.messages("general")
    assert [m["text"] for m in messages] == ["おはようございます"]
    assert bot.runtime.store.head()[0] == 0


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400),
    (b"[1, 2]", 400),
    (b'{"user": "a"}', 400),
    (b'{"user": "", "text": "/help"}', 400),
    (b'{"user": 5, "text": "/help"}', 400),
])
async def test_bad_requests_get_4xx_and_store_nothing(bot, body, status):
    async with bot.session.post(bot.url("/api/rooms/general/messages"), data=body,
                                headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == status
        assert "error" in await resp.json()
    assert bot.runtime.store.head()[0] == 0
    assert await bot.messages("general") == []


async def test_huge_text_is_refused_cleanly(bot):
    status, data = await bot.post("/api/rooms/general/messages",
                                  {"user": "u", "text": "/draft " + "あ" * 40_001})
    assert status == 413 and "文字" in data["error"]
    async with bot.session.post(bot.url("/api/rooms/general/messages"),
                                data=b"x" * (2 * 1024 * 1024),
                                headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 413
    assert bot.runtime.store.head()[0] == 0
    async with bot.session.get(bot.url("/healthz")) as resp:
        assert resp.status == 200


async def test_retried_delivery_is_recorded_once(bot):
    await bot.say("general", "staff01", "/help", client_id="c-1")
    second = await bot.say("general", "staff01", "/help", client_id="c-1")
    assert second["duplicate"] is True
    await bot.settle()
    replies = [m for m in await bot.messages("general") if m["user"] == "chonai"]
    assert len(replies) == 1
    received = bot.runtime.store.read(0, types=["incoming.received"])
    assert len(received) == 1


async def test_read_marks(bot):
    await bot.say("general", "staff01", "/help")
    reply = await bot.wait_for("general", None, lambda m: "/draft" in m["text"])
    status, data = await bot.read("general", "staff02", reply)
    assert status == 200 and data["first"] is True
    status, data = await bot.read("general", "staff02", reply)
    assert data["first"] is False
    [seen] = [m for m in await bot.messages("general", "staff02") if m["id"] == reply["id"]]
    assert seen["read"] is True and seen["read_count"] == 1


async def test_dm_rooms_are_private(bot):
    status, _ = await bot.post("/api/rooms/general/messages", {"user": "a", "text": "x"})
    async with bot.session.get(bot.url("/api/rooms/dm:alice/messages"),
                               params={"user": "bob"}) as resp:
        assert resp.status == 403


async def test_page_and_metrics(bot):
    async with bot.session.get(bot.url("/")) as resp:
        assert resp.status == 200
        assert "庁内トーク" in await resp.text()
    await bot.say("general", "staff01", "/help")
    await bot.settle()
    async with bot.session.get(bot.url("/metrics")) as resp:
        text = await resp.text()
    assert "chonai_events_appended_total" in text
    assert "chonai_handler_seconds_bucket" in text
    assert "chonai_outbox_backlog" in text


async def test_beyond_loopback_the_talk_room_requires_sign_in(start_bot):
    from bot import signin

    from commands.staff import parse_directory, replace_directory

    bot = await start_bot(host="0.0.0.0")
    settings = bot.runtime.settings
    await replace_directory(bot.runtime.engine, parse_directory(
        "user_id,name,department,roles\nu1,利用者 一,市民課,\nu2,利用者 二,市民課,\n".encode()))
    status, data = await bot.post("/api/rooms/general/messages", {"user": "u1", "text": "/help"})
    assert status == 401 and "サインイン" in data["error"]
    token = signin.issue(settings, "u1")
    headers = {"Authorization": f"Bearer {token}"}
    async with bot.session.post(bot.url("/api/rooms/general/messages"), headers=headers,
                                json={"user": "u2", "text": "/help"}) as resp:
        assert resp.status == 403  # acting as someone else
    async with bot.session.post(bot.url("/api/rooms/general/messages"), headers=headers,
                                json={"user": "u1", "text": "/help"}) as resp:
        assert resp.status == 201
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    async with bot.session.get(bot.url("/api/rooms/general/messages"), params={"user": "u1"},
                               headers={"Authorization": f"Bearer {forged}"}) as resp:
        assert resp.status == 401
    assert len(bot.runtime.store.read(0, types=["incoming.received"])) == 1  # the accepted /help


async def test_a_handler_whose_results_cannot_be_stored_is_retried_not_dropped(bot):
    from sqlalchemy.exc import OperationalError

    store = bot.runtime.store
    real_append = store.append
    failures = {"left": 2}

    async def flaky(*events):
        if any(e.type == "incoming.handled" for e in events) and failures["left"]:
            failures["left"] -= 1
            raise OperationalError("INSERT", {}, Exception("database restarting"))
        return await real_append(*events)

    store.append = flaky
    await bot.say("general", "staff01", "/help")
    reply = await bot.wait_for("general", None, lambda m: "/draft" in m["text"])
    assert reply and failures["left"] == 0
    await bot.settle()
    assert len(store.read(0, types=["incoming.handled"])) == 1


async def test_the_live_stream_tells_open_pages_of_changes_from_anywhere(bot):
    """Server-sent events: a change made here wakes the page at once; one made by another
    instance (written straight to the database) within a few seconds."""
    import asyncio
    import time

    from store import rooms

    async with bot.session.get(bot.url("/api/events"), params={"user": "staff01"}) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")

        async def next_change(timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                line = await asyncio.wait_for(stream.content.readline(), deadline - time.monotonic())
                if line.startswith(b"event: change"):
                    return
            raise AssertionError("no change event")

        await next_change(5)  # the first one, on opening
        await bot.say("general", "staff02", "こんにちは")
        await next_change(5)
        await asyncio.to_thread(rooms.add_message, bot.runtime.engine, "general", "staff03",
                                "別のインスタンスから")
        await next_change(10)
