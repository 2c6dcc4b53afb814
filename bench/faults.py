"""Fault scenarios: what was sent, counted, lost and duplicated when things break.

    python bench/faults.py [--recipients 2000] [--pg postgresql://postgres@127.0.0.1/test]

Scenarios (each with real `chonai run` processes on loopback, driven through the talk room):
1. kill -9 of the only instance (SQLite) in the middle of a broadcast and of its clicks;
2. two instances on one PostgreSQL + Redis, clicks split across both, one killed with -9
   mid-way (its dispatcher lease and outbox claims are taken over);
3. Redis stopped and started again under load (degraded but correct);
4. PostgreSQL restarted under load: requests in the outage answer 5xx, nothing acknowledged is
   lost, service resumes by itself.
Prints one table row per scenario; every row should read lost 0, duplicated 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.bot_process import BotProcess  # noqa: E402

REDIS_START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
               "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
               "--logfile", "/var/log/redis/ci.log"]


def cli(env: dict[str, str], *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout


async def broadcast(bot: BotProcess, session: aiohttp.ClientSession) -> str:
    async with session.post(f"{bot.url}/api/rooms/hq/messages",
                            json={"user": "hq", "text": "/broadcast 安否 震度6強。安否を回答してください"}):
        pass
    while True:
        async with session.get(f"{bot.url}/api/rooms/hq/messages", params={"user": "hq"}) as resp:
            found = [m for m in (await resp.json())["messages"] if m["buttons"]]
        if found:
            preview = found[0]
            break
        await asyncio.sleep(0.1)
    bid = preview["buttons"][0]["value"]
    async with session.post(f"{bot.url}/api/rooms/hq/actions", json={
            "user": "hq", "message_id": preview["id"], "action_id": "broadcast.send", "value": bid}):
        pass
    return bid


async def dm_counts(bot: BotProcess, session, users: list[str]) -> dict[str, list[dict]]:
    found = {}
    for user in users:
        async with session.get(f"{bot.url}/api/rooms/dm:{user}/messages", params={"user": user}) as resp:
            found[user] = (await resp.json())["messages"] if resp.status == 200 else []
    return found


async def click_all(bots: list[BotProcess], session, bid: str, users: list[str],
                    notices: dict[str, list[dict]], acked: list[str], concurrency: int = 64) -> None:
    queue = iter(enumerate(users))

    async def worker() -> None:
        for i, user in queue:
            bot = bots[i % len(bots)]
            if not notices.get(user):
                continue
            try:
                async with session.post(f"{bot.url}/api/rooms/dm:{user}/actions", json={
                        "user": user, "message_id": notices[user][0]["id"],
                        "action_id": "broadcast.answer", "value": f"{bid}|無事",
                        "client_id": f"click-{user}"}) as resp:
                    if resp.status == 202:
                        acked.append(user)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def answers(env: dict[str, str]) -> list[str]:
    return [json.loads(line)["payload"]["user_id"] for line in
            cli(env, "events", "--type", "broadcast.answered").splitlines()]


async def settle(bot: BotProcess, session, users: list[str], timeout: float = 600) -> dict[str, list[dict]]:
    deadline = time.monotonic() + timeout
    while True:
        counts = await dm_counts(bot, session, users)
        if all(counts.values()) or time.monotonic() > deadline:
            await asyncio.sleep(3)
            return await dm_counts(bot, session, users)
        await asyncio.sleep(1)


def row(name: str, sent: int, counted: int, lost: int, duplicated: int, note: str = "") -> None:
    print(f"| {name} | {sent} | {counted} | {lost} | {duplicated} | {note} |", flush=True)


async def scenario(name: str, env: dict[str, str], tmp: Path, recipients: int, instances: int,
                   kill_during: str, redis_restart: bool = False) -> None:
    staff = tmp / f"{name}.csv"
    users = [f"s{i:05d}" for i in range(recipients)]
    staff.write_text("user_id,name,department,roles\nhq,本部,危機管理課,broadcaster\n"
                     + "".join(f"{u},職員,課{i % 8},\n" for i, u in enumerate(users)), encoding="utf-8")
    cli(env, "staff", "import", str(staff))
    bots = [BotProcess(env, tmp / f"{name}-{i}.log") for i in range(instances)]
    for bot in bots:
        await bot.start()
    async with aiohttp.ClientSession() as session:
        bid = await broadcast(bots[0], session)
        if kill_during == "delivery":
            await asyncio.sleep(1.0)
            bots[0].kill()
            await bots[0].start()
        notices = await settle(bots[-1], session, users + ["hq"])
        doubles = sum(max(0, len([m for m in v if m["buttons"]]) - 1) for v in notices.values())
        missing = sum(1 for v in notices.values() if not v)
        row(f"{name}: DMs", recipients + 1, recipients + 1 - missing, missing, doubles,
            "kill -9 during delivery" if kill_during == "delivery" else "")
        acked: list[str] = []
        clicking = asyncio.create_task(click_all(bots, session, bid, users, notices, acked))
        await asyncio.sleep(1.0)
        if redis_restart:
            subprocess.run(["redis-cli", "shutdown", "nosave"], capture_output=True)
            await asyncio.sleep(2)
            subprocess.run(REDIS_START, capture_output=True)
        if kill_during == "clicks":
            bots[0].kill()
        await clicking
        if kill_during == "clicks" and instances == 1:
            await bots[0].start()
        survivor = bots[-1]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            counted = answers(env)
            if set(acked) <= set(counted):
                break
            await asyncio.sleep(2)
        counted = answers(env)
        lost = len(set(acked) - set(counted))
        duplicated = len(counted) - len(set(counted))
        row(f"{name}: clicks", len(acked), len(set(counted)), lost, duplicated,
            {"clicks": "kill -9 during clicks", "": ""}.get(kill_during, "")
            + ("; Redis restarted" if redis_restart else ""))
        del survivor
    for bot in bots:
        bot.stop()


async def postgres_restart(env: dict[str, str], tmp: Path) -> None:
    """Requests during a PostgreSQL restart fail fast with 5xx (so a platform retries); what
    was acknowledged is in the log and answered once; service resumes by itself."""
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    bot = BotProcess(env, tmp / "pg-restart.log")
    await bot.start()
    acked, refused, failed = [], 0, 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async def send(i: int) -> None:
            nonlocal refused, failed
            try:
                async with session.post(f"{bot.url}/api/rooms/r{i % 20}/messages", json={
                        "user": "u1", "text": "/help", "client_id": f"pg-{i}"}) as resp:
                    if resp.status in (200, 201):
                        acked.append(f"in:local:pg-{i}")
                    elif resp.status >= 500:
                        refused += 1
            except (aiohttp.ClientError, asyncio.TimeoutError):
                failed += 1

        restart = None
        tasks = []
        for i in range(600):
            tasks.append(asyncio.create_task(send(i)))
            if i == 150:
                restart = asyncio.create_task(asyncio.to_thread(
                    subprocess.run, ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main",
                                     "restart"], capture_output=True))
            await asyncio.sleep(0.02)
        await asyncio.gather(*tasks)
        await restart
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # service resumes by itself
            try:
                async with session.post(f"{bot.url}/api/rooms/r0/messages", json={
                        "user": "u1", "text": "/help", "client_id": "pg-after"}) as resp:
                    if resp.status in (200, 201):
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(1)
        await asyncio.sleep(10)
    keys = {json.loads(line)["idempotency_key"] for line in
            cli(env, "events", "--type", "incoming.received").splitlines()}
    handled = len(cli(env, "events", "--type", "incoming.handled").splitlines())
    lost = len(set(acked) - keys)
    row("PostgreSQL restarted under load", len(acked), len(set(acked) & keys), lost,
        max(0, handled - len(keys)), f"{refused} answered 5xx, {failed} cut off during the restart")
    bot.stop()


async def main(args: argparse.Namespace) -> None:
    print("| scenario | sent | counted | lost | duplicated | fault |")
    print("|---|---|---|---|---|---|")
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    base.update(PYTHONPATH=str(ROOT), CHONAI_PII_KEY="faults")
    with tempfile.TemporaryDirectory(prefix="chonai-faults-") as tmp:
        tmp_path = Path(tmp)
        env = {**base, "CHONAI_DATA_DIR": str(tmp_path / "one")}
        await scenario("one instance, SQLite", env, tmp_path, args.recipients, 1, "delivery")
        env = {**base, "CHONAI_DATA_DIR": str(tmp_path / "two")}
        await scenario("one instance, SQLite", env, tmp_path, args.recipients, 1, "clicks")
        import psycopg

        name = f"chonai_faults_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            env = {**base, "CHONAI_DATA_DIR": str(tmp_path / "pg"),
                   "DATABASE_URL": args.pg.rsplit("/", 1)[0] + "/" + name,
                   "REDIS_URL": "redis://127.0.0.1:6379/14"}
            await scenario("two instances, PostgreSQL + Redis", env, tmp_path, args.recipients, 2,
                           "clicks", redis_restart=True)
            await postgres_restart({**env, "CHONAI_DATA_DIR": str(tmp_path / "pg2")}, tmp_path)
        finally:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    asyncio.run(main(parser.parse_args()))
