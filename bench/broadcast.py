"""Broadcast benchmark: 10,000 staff, one broadcast, 10,000 signed acknowledgement clicks.

    python bench/broadcast.py [--staff 10000] [--concurrency 64] [--instances 2 --pg URL]

With --instances 2 (or more) the bots share one PostgreSQL database (--pg) and Redis, and
the clicks are split across them.

Starts a Slack Web API stand-in (rate limits off), a bare slack-bolt app that only acks (the
reference) and the bot (`chonai run`, SQLite), all on loopback. Imports the directory, sends
the broadcast through signed Slack requests (command, then the 送信 button), and prints the
delivery time (every DM at the stand-in), the click throughput, p50/p99 next to the bare app's,
and the count the bot's status shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import ack  # noqa: E402  (the stand-in, the bare app and the load generator)

BOSS = "UBOSS"


def directory(path: Path, staff: int) -> None:
    lines = ["user_id,name,department,roles,platform_ids",
             f"boss,本部長,危機管理課,broadcaster,slack:{BOSS}"]
    lines += [f"s{i:05d},職員{i},課{i % 20:02d},,slack:U{i:06d}" for i in range(staff)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def command(text: str, run: str, hook: str) -> tuple[str, dict[str, str]]:
    return ack.signed(urlencode({"command": "/broadcast", "text": text, "user_id": BOSS,
                                 "channel_id": "CHQ", "channel_name": "hq", "team_id": "T0",
                                 "trigger_id": f"{run}.cmd", "response_url": f"{hook}/{run}"}))


def press(user: str, channel: str, action_id: str, value: str, n: str, hook: str):
    payload = {"type": "block_actions", "team": {"id": "T0"}, "user": {"id": user},
               "trigger_id": f"press.{n}", "response_url": f"{hook}/press-{n}",
               "channel": {"id": channel, "name": "directmessage"},
               "container": {"type": "message", "message_ts": "1700000000.000001",
                             "channel_id": channel},
               "message": {"ts": "1700000000.000001", "text": "…"},
               "actions": [{"type": "button", "action_id": action_id, "value": value,
                            "block_id": "chonai0:b", "action_ts": f"{n}.0"}]}
    return ack.signed(urlencode({"payload": json.dumps(payload)}))


async def post(url: str, request) -> int:
    import aiohttp

    body, headers = request
    async with aiohttp.ClientSession() as session:
        async with session.post(url + "/slack/events", data=body, headers=headers) as resp:
            return resp.status


def prepared_id(env: dict[str, str], db: Path) -> int | None:
    if "DATABASE_URL" not in env:
        return latest_broadcast(db)
    out = subprocess.run([sys.executable, "-m", "bot.cli", "events", "--type", "broadcast.prepared"],
                         env=env, capture_output=True, text=True).stdout.splitlines()
    return json.loads(out[-1])["payload"]["id"] if out else None


def latest_broadcast(db: Path) -> int | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT payload FROM events WHERE type='broadcast.prepared' "
                           "ORDER BY position DESC LIMIT 1").fetchone()
    return json.loads(row[0])["id"] if row else None


async def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="chonai-broadcast-") as tmp:
        tmp_path = Path(tmp)
        print(f"fsync median {ack.fsync_ms(tmp):.2f} ms; {args.staff:,} staff, "
              f"{args.concurrency} in flight", flush=True)
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "REDIS_URL", "SLACK_APP_TOKEN")}
        env["PYTHONPATH"] = str(ROOT)
        standin = ack.Process([sys.executable, str(ROOT / "bench" / "ack.py"), "--serve-standin"],
                              env, tmp_path / "standin.log")
        standin_url = standin.proc.stdout.readline().strip()
        hook = standin_url + "/hooks"
        processes = [standin]
        try:
            port = ack.free_port()
            bare = ack.Process([sys.executable, str(ROOT / "bench" / "ack.py"), "--serve-bare",
                                "pbr", str(port)], env, tmp_path / "bare.log")
            processes.append(bare)
            await ack.wait_healthy(f"http://127.0.0.1:{port}", bare)
            reference_clicks = [("clicks", *press(f"U{i:06d}", f"D{i:06d}", "bench.press", "x",
                                                  f"r{i}", hook)) for i in range(args.staff)]
            cpu = bare.cpu_seconds()
            seconds, latencies, failures = await ack.fire(f"http://127.0.0.1:{port}",
                                                          reference_clicks, args.concurrency)
            reference = ack.summary("bare bolt (ack only)", "clicks", seconds,
                                    latencies["clicks"], failures)
            reference_cpu = (bare.cpu_seconds() - cpu) / args.staff * 1000
            bare.stop()

            data = tmp_path / "data"
            port = ack.free_port()
            shared = {}
            if args.instances > 1:
                import psycopg

                name = f"chonai_bcast_{os.getpid()}"
                with psycopg.connect(args.pg, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    conn.execute(f'CREATE DATABASE "{name}"')
                shared = {"DATABASE_URL": args.pg.rsplit("/", 1)[0] + "/" + name,
                          "REDIS_URL": "redis://127.0.0.1:6379/13"}
            bot_env = {**env, **shared, "CHONAI_DATA_DIR": str(data), "CHONAI_PORT": str(port),
                       "CHONAI_PII_KEY": "bench", "SLACK_BOT_TOKEN": "xoxb-test",
                       "SLACK_SIGNING_SECRET": ack.SECRET, "SLACK_API_URL": standin_url + "/api/",
                       "CHONAI_SLACK_WORKSPACE_RATE": "100000", "CHONAI_SLACK_WORKSPACE_BURST": "100000",
                       "CHONAI_SLACK_CHANNEL_RATE": "100000", "CHONAI_SLACK_CHANNEL_BURST": "100000"}
            staff_csv = tmp_path / "staff.csv"
            directory(staff_csv, args.staff)
            subprocess.run([sys.executable, "-m", "bot.cli", "staff", "import", str(staff_csv)],
                           env=bot_env, check=True, capture_output=True)
            urls = []
            for n in range(args.instances):
                instance_env = {**bot_env, "CHONAI_PORT": str(port if n == 0 else ack.free_port()),
                                "CHONAI_INSTANCE": f"bench-{n}"}
                bot = ack.Process([sys.executable, "-m", "bot.cli", "run"], instance_env,
                                  tmp_path / f"bot-{n}.log")
                processes.append(bot)
                urls.append(f"http://127.0.0.1:{instance_env['CHONAI_PORT']}")
                await ack.wait_healthy(urls[-1], bot)
            url = urls[0]
            db = data / "chonai.db"
            assert await post(url, command("【訓練ではありません】震度6弱。安否を回答してください。",
                                           "b1", hook)) == 200
            bid = await wait_for(lambda: prepared_id(bot_env, db), 60, "the preview")
            before = (await ack.stats(standin_url))["delivered"]
            started = time.monotonic()
            assert await post(url, press(BOSS, "CHQ", "broadcast.send", str(bid), "send", hook)) == 200

            async def delivered():
                return (await ack.stats(standin_url))["delivered"] - before >= args.staff + 1

            await wait_for(delivered, 1800, "the DMs")
            print(f"delivery: {args.staff + 1:,} DMs at the stand-in {time.monotonic() - started:.1f} s "
                  "after 送信", flush=True)

            clicks = [("clicks", *press(f"U{i:06d}", f"D{i:06d}", "broadcast.answer",
                                        f"{bid}|確認しました", f"a{i}", hook)) for i in range(args.staff)]
            if len(urls) > 1:  # split across the instances
                parts = await asyncio.gather(*(ack.fire(u, clicks[i::len(urls)],
                                                        args.concurrency // len(urls))
                                               for i, u in enumerate(urls)))
                seconds = max(p[0] for p in parts)
                latencies = {"clicks": [t for p in parts for t in p[1]["clicks"]]}
                failures = sum(p[2] for p in parts)
            else:
                cpu = bot.cpu_seconds()
                seconds, latencies, failures = await ack.fire(url, clicks, args.concurrency)
                print(f"CPU per click while clicking: bot {(bot.cpu_seconds() - cpu) / args.staff * 1000:.2f} ms, "
                      f"bare bolt {reference_cpu:.2f} ms", flush=True)
            mine = ack.summary("chonai bot (receipts)", "clicks", seconds, latencies["clicks"],
                               failures)
            ratio = mine["rps"] / reference["rps"]
            print(f"click throughput {ratio:.2f}x the bare app (target >= 0.6x), p99 "
                  f"{mine['p99']:.1f} ms (target <= 250 ms)", flush=True)

            def counted():
                out = subprocess.run([sys.executable, "-m", "bot.cli", "broadcast", "status",
                                      str(bid), "--json"], env=bot_env, capture_output=True,
                                     text=True)
                status = json.loads(out.stdout) if out.returncode == 0 else {}
                return status if status.get("acknowledged", 0) >= args.staff else None

            started = time.monotonic()
            try:
                status = await wait_for(counted, 600, "the tally")
            except SystemExit:
                out = subprocess.run([sys.executable, "-m", "bot.cli", "broadcast", "status",
                                      str(bid), "--json"], env=bot_env, capture_output=True, text=True)
                status = json.loads(out.stdout)
            print(f"status: {status['acknowledged']:,} acknowledged of {status['targets']:,} "
                  f"(all counted {time.monotonic() - started:.1f} s after the last click); "
                  f"delivery as the status shows it: {status['delivery']}")
        finally:
            for process in reversed(processes):
                process.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--staff", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    asyncio.run(main(parser.parse_args()))
