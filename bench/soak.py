"""Soak: a mixed load on one bot for a while, watching throughput, latency and memory.

    python bench/soak.py [--minutes 10] [--rate 40]

Starts a local AI stand-in and the bot (SQLite), then sends a steady mix through the talk
room — plain messages, /help, /status, /draft (answered by the stand-in), mentions and
button presses — at about `rate` requests/s, and prints per minute the requests/s, p99 and
the bot's memory (RSS), and at the end the growth from the first minute.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.bot_process import BotProcess  # noqa: E402
from tests.openai_standin import OpenAIStandIn  # noqa: E402

MIX = [("message", "おはようございます。本日の会議は10時からです。"), ("command", "/help"),
       ("command", "/status R7-000123"), ("command", "/draft あいさつ文 着任のあいさつ"),
       ("mention", "@chonai 住民票の写しの手数料は？"), ("press", "draft.post")]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def main(args: argparse.Namespace) -> None:
    ai = await OpenAIStandIn().start()
    ai.reply = "4月1日付で着任しました。よろしくお願いいたします。"
    with tempfile.TemporaryDirectory(prefix="chonai-soak-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(PYTHONPATH=str(ROOT), CHONAI_DATA_DIR=str(Path(tmp) / "data"),
                   CHONAI_PII_KEY="soak", OPENAI_BASE_URL=ai.base_url, OPENAI_API_KEY="sk-soak")
        staff = Path(tmp) / "staff.csv"
        staff.write_text("user_id,name,department,roles\n" + "".join(
            f"u{i},職員{i},課{i % 5},\n" for i in range(50)), encoding="utf-8")
        subprocess.run([sys.executable, "-m", "bot.cli", "staff", "import", str(staff)], env=env,
                       cwd=ROOT, check=True, capture_output=True)
        bot = BotProcess(env, Path(tmp) / "bot.log")
        await bot.start()
        rng = random.Random(5)
        buttons: list[tuple[str, str, str, str]] = []  # (room, user, message id, value)
        latencies: list[float] = []
        first_rss = None
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            async def one(i: int) -> None:
                kind, text = rng.choice(MIX)
                user, room = f"u{i % 50}", f"room{i % 10}"
                began = time.perf_counter()
                if kind == "press":
                    if not buttons:
                        return
                    room, user, message_id, value = rng.choice(buttons)
                    url, body = f"{bot.url}/api/rooms/{room}/actions", {
                        "user": user, "message_id": message_id, "action_id": "draft.post",
                        "value": value}
                else:
                    url, body = f"{bot.url}/api/rooms/{room}/messages", {"user": user, "text": text}
                async with session.post(url, json=body) as resp:
                    await resp.read()
                latencies.append(time.perf_counter() - began)
                if kind == "command" and text.startswith("/draft") and len(buttons) < 200:
                    async with session.get(f"{bot.url}/api/rooms/{room}/messages",
                                           params={"user": user}) as resp:
                        for m in (await resp.json())["messages"]:
                            for b in m["buttons"]:
                                if b["action_id"] == "draft.post":
                                    buttons.append((room, user, m["id"], b["value"]))

            i = 0
            for minute in range(args.minutes):
                latencies.clear()
                window = time.monotonic()
                tasks = []
                while time.monotonic() - window < 60:
                    tasks.append(asyncio.create_task(one(i)))
                    i += 1
                    await asyncio.sleep(1 / args.rate)
                await asyncio.gather(*tasks, return_exceptions=True)
                rss = rss_mib(bot.proc.pid)
                first_rss = first_rss or rss
                ordered = sorted(latencies)
                p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000 if ordered else 0
                print(f"minute {minute + 1}: {len(ordered) / (time.monotonic() - window):.1f} req/s, "
                      f"p50 {statistics.median(ordered) * 1000 if ordered else 0:.1f} ms, "
                      f"p99 {p99:.1f} ms, RSS {rss:.0f} MiB", flush=True)
        growth = (rss - first_rss) / first_rss * 100 if first_rss else 0
        print(f"memory: {first_rss:.0f} MiB after the first minute, {rss:.0f} MiB at the end "
              f"({growth:+.1f}%), {time.monotonic() - started:.0f} s in all; AI requests {len(ai.requests)}")
        bot.stop()
    await ai.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--rate", type=float, default=40)
    asyncio.run(main(parser.parse_args()))
