"""A real `chonai run` process killed with SIGKILL loses no acknowledged event and posts no
reply twice; `chonai verify` catches a deleted event row."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time

import aiohttp
import pytest

from tests.bot_process import BotProcess


def chonai(*args: str, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, **kwargs)


@pytest.fixture
def bot_process(tmp_path):
    processes: list[BotProcess] = []

    def make() -> BotProcess:
        env = {**os.environ, "CHONAI_DATA_DIR": str(tmp_path / "data"), "CHONAI_PII_KEY": "k"}
        env.pop("DATABASE_URL", None)
        p = BotProcess(env, tmp_path / "bot.log")
        processes.append(p)
        return p

    yield make
    for p in processes:
        p.stop()


async def _wait_settled(db: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            received = conn.execute(
                "SELECT count(*) FROM events WHERE type='incoming.received'").fetchone()[0]
            handled = conn.execute(
                "SELECT count(*) FROM events WHERE type='incoming.handled'").fetchone()[0]
            pending = conn.execute(
                "SELECT count(*) FROM outbox WHERE status IN ('pending','sending')").fetchone()[0]
        if received == handled and pending == 0:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the bot did not settle after the restart")


async def test_kill_9_loses_no_acknowledged_event_and_posts_each_reply_once(bot_process):
    first = bot_process()
    await first.start()
    acknowledged: list[str] = []

    async def send(session: aiohttp.ClientSession, i: int) -> None:
        body = {"user": f"u{i % 7}", "text": "/help", "client_id": f"m-{i}"}
        try:
            async with session.post(first.url + "/api/rooms/crash/messages", json=body) as resp:
                if resp.status in (200, 201):
                    acknowledged.append(f"m-{i}")
        except aiohttp.ClientError:
            pass  # killed mid-request: not acknowledged, may or may not be stored

    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(send(session, i)) for i in range(300)]
        await asyncio.sleep(0.4)
        first.kill()
        await asyncio.gather(*tasks)
    assert acknowledged, "nothing was acknowledged before the kill"

    second = first  # the same data dir and port, a new process
    await second.start()
    db = first.env["CHONAI_DATA_DIR"] + "/chonai.db"
    await _wait_settled(db, 60)
    with sqlite3.connect(db) as conn:
        keys = {k for (k,) in conn.execute(
            "SELECT idempotency_key FROM events WHERE type='incoming.received'")}
        replies = conn.execute("SELECT count(*) FROM room_messages WHERE user='chonai'"
                               ).fetchone()[0]
        handled = conn.execute(
            "SELECT count(*) FROM events WHERE type='incoming.handled'").fetchone()[0]
        distinct_outbox = conn.execute(
            "SELECT count(DISTINCT outbox_id) FROM room_messages WHERE user='chonai'"
        ).fetchone()[0]
    missing = [m for m in acknowledged if f"in:local:{m}" not in keys]
    assert missing == []
    assert handled == len(keys)  # every recorded request was handled exactly once
    assert replies == len(keys) == distinct_outbox  # one reply each, none twice
    second.stop()
    assert chonai("verify", env=first.env).returncode == 0


def test_verify_cli_fails_after_a_row_is_deleted(tmp_path):
    env = {**os.environ, "CHONAI_DATA_DIR": str(tmp_path / "d"), "CHONAI_PII_KEY": "k"}
    env.pop("DATABASE_URL", None)
    script = ("import asyncio\n"
              "from bot.config import load, database_url\n"
              "from store.db import make_engine\nfrom store.migrate import upgrade\n"
              "from store.events import EventStore, NewEvent\n"
              "async def main():\n"
              "    e = make_engine(database_url(load())); upgrade(e); s = EventStore(e)\n"
              "    for i in range(10): await s.append(NewEvent('t', 's', {'i': i}))\n"
              "    await s.stop()\n"
              "asyncio.run(main())\n")
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    ok = chonai("verify", env=env)
    assert ok.returncode == 0 and "10 events" in ok.stdout
    events = chonai("events", "--type", "t", "--since", "7", env=env)
    assert [line.count('"position"') for line in events.stdout.splitlines()] == [1, 1, 1]
    with sqlite3.connect(tmp_path / "d" / "chonai.db") as conn:
        conn.execute("DELETE FROM events WHERE position = 4")
    bad = chonai("verify", env=env)
    assert bad.returncode != 0 and "position 4" in bad.stderr


async def test_kill_9_during_a_broadcast_and_its_clicks(bot_process, tmp_path):
    staff = tmp_path / "staff.csv"
    staff.write_text("user_id,name,department,roles\nhq,本部,危機管理課,broadcaster\n"
                     + "".join(f"s{i:03d},職員{i},課{i % 4},\n" for i in range(400)), encoding="utf-8")
    bot = bot_process()
    assert chonai("staff", "import", str(staff), env=bot.env).returncode == 0
    await bot.start()
    db = bot.env["CHONAI_DATA_DIR"] + "/chonai.db"
    async with aiohttp.ClientSession() as session:
        async def post(path: str, body: dict) -> tuple[int, dict]:
            async with session.post(bot.url + path, json=body) as resp:
                return resp.status, await resp.json()

        async def messages(room: str, user: str) -> list[dict]:
            async with session.get(f"{bot.url}/api/rooms/{room}/messages",
                                   params={"user": user}) as resp:
                return (await resp.json())["messages"]

        await post("/api/rooms/hq/messages", {"user": "hq", "text": "/broadcast 安否 震度6弱、安否を回答してください"})
        preview = None
        while preview is None:
            preview = next((m for m in await messages("hq", "hq") if m["buttons"]), None)
            await asyncio.sleep(0.1)
        bid = preview["buttons"][0]["value"]
        await post("/api/rooms/hq/actions", {"user": "hq", "message_id": preview["id"],
                                             "action_id": "broadcast.send", "value": bid})
        while True:  # kill while the DMs are going out
            with sqlite3.connect(db) as conn:
                sent = conn.execute("SELECT count(*) FROM room_messages WHERE room LIKE 'dm:%'").fetchone()[0]
            if sent >= 20:
                break
            await asyncio.sleep(0.02)
        bot.kill()
    await bot.start()
    await _wait_settled(db)
    with sqlite3.connect(db) as conn:
        per_room = dict(conn.execute("SELECT room, count(*) FROM room_messages "
                                     "WHERE room LIKE 'dm:%' GROUP BY room").fetchall())
    assert len(per_room) == 401 and set(per_room.values()) == {1}  # nobody skipped or messaged twice

    counted: list[str] = []
    async with aiohttp.ClientSession() as session:
        async def click(i: int) -> None:
            user = f"s{i:03d}"
            try:
                async with session.get(f"{bot.url}/api/rooms/dm:{user}/messages",
                                       params={"user": user}) as resp:
                    [notice] = (await resp.json())["messages"]
                async with session.post(f"{bot.url}/api/rooms/dm:{user}/actions", json={
                        "user": user, "message_id": notice["id"], "action_id": "broadcast.answer",
                        "value": f"{bid}|無事", "client_id": f"click-{user}"}) as resp:
                    if resp.status == 202:
                        counted.append(user)
            except (aiohttp.ClientError, ValueError):
                pass  # killed mid-request

        tasks = [asyncio.create_task(click(i)) for i in range(400)]
        deadline = time.monotonic() + 60
        while len(counted) < 20 and time.monotonic() < deadline and not all(t.done() for t in tasks):
            await asyncio.sleep(0.01)  # some clicks are in, the rest are still arriving
        bot.kill()
        await asyncio.gather(*tasks)
    assert counted, "no click was acknowledged before the kill"
    await bot.start()
    await _wait_settled(db)
    with sqlite3.connect(db) as conn:
        answers = [json.loads(p)["user_id"] for (p,) in conn.execute(
            "SELECT payload FROM events WHERE type='broadcast.answered'")]
    assert len(answers) == len(set(answers))  # no click counted twice
    assert set(counted) <= set(answers)  # every acknowledged click counted
    bot.stop()


async def test_a_restart_after_kill_9_answers_within_two_seconds(bot_process):
    """The new process takes the dispatcher lease from its dead predecessor at once instead of
    waiting for the lease to expire."""
    first = bot_process()
    await first.start()
    async with aiohttp.ClientSession() as session:
        async with session.post(first.url + "/api/rooms/general/messages",
                                json={"user": "staff01", "text": "/help"}) as resp:
            assert resp.status == 201
        first.kill()
        await first.start()  # the same data directory, a new process
        up = time.monotonic()
        async with session.post(first.url + "/api/rooms/general/messages",
                                json={"user": "staff01", "text": "/help"}) as resp:
            assert resp.status == 201
        answered = None
        while time.monotonic() - up < 10:
            async with session.get(first.url + "/api/rooms/general/messages") as resp:
                replies = [m for m in (await resp.json())["messages"] if m["user"] == "chonai"]
            if len(replies) >= 2:
                answered = time.monotonic() - up
                break
            await asyncio.sleep(0.05)
    assert answered is not None and answered < 2.0, answered
