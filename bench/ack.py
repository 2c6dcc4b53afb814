"""Slack acknowledgement benchmark: how fast the bot answers Slack's signed requests.

    python bench/ack.py [--n 2000] [--concurrency 32]

Starts, each in its own process: a Slack Web API stand-in, the bot (`chonai run`, SQLite in a
temporary directory, Slack configured against the stand-in) and, for comparison, a bare
slack-bolt AsyncApp whose listeners only call ack() (in bolt's default mode and with
process_before_response=True). Fires N signed slash commands (/help) and N signed button
clicks, interleaved, at each over loopback with the given concurrency, then 200 commands one
at a time, and prints requests/s, p50 and p99. Every request the bot acks has been durably
appended to its event log first; it answers each /help afterwards (at the stand-in), and the
bench waits for those answers between phases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from append import fsync_ms  # noqa: E402  (one probe of the disk for every bench)

SECRET = "bench-signing-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- the processes under test ------------------------------------------------------------------
def serve_standin() -> None:
    from tests.slack_standin import SlackStandIn

    async def main() -> None:
        standin = SlackStandIn()
        await standin.start()
        print(standin.url, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def serve_bare(mode: str, port: int) -> None:
    """A bare bolt app: signature check, listener match, ack() — nothing else."""
    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_bolt.authorization import AuthorizeResult
    from slack_sdk.web.async_client import AsyncWebClient

    async def authorize(enterprise_id=None, team_id=None):  # noqa: ANN001, ANN202
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id,
                               bot_token="xoxb-bench")

    async def only_ack(ack):  # noqa: ANN001, ANN202
        await ack()

    bolt = AsyncApp(name="bare", signing_secret=SECRET, authorize=authorize,
                    client=AsyncWebClient(base_url="http://127.0.0.1:9/api/"),
                    process_before_response=(mode == "pbr"))
    bolt.command(re.compile(".*"))(only_ack)
    bolt.action(re.compile(".*"))(only_ack)

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE,
                                     stderr=log.open("ab"), text=True)

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def wait_healthy(url: str, process: Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.proc.poll() is not None:
                raise SystemExit("process exited: " + process.log.read_text()[-2000:])
            try:
                async with session.get(url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("process did not start: " + process.log.read_text()[-2000:])


# -- load ------------------------------------------------------------------------------------
def signed(body: str) -> tuple[str, dict[str, str]]:
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
    return body, {"Content-Type": "application/x-www-form-urlencoded",
                  "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


def commands(n: int, run: str, hook: str) -> list[tuple[str, dict[str, str]]]:
    channels = max(1, n // 2)  # replies spread over channels, as commands come from many rooms
    return [signed(urlencode({
        "command": "/help", "text": "", "user_id": f"U{i % 500:05d}",
        "channel_id": f"C{i % channels:05d}", "channel_name": "general", "team_id": "T0",
        "trigger_id": f"{run}.c.{i}", "response_url": f"{hook}/{run}-{i}"})) for i in range(n)]


def clicks(n: int, run: str, hook: str) -> list[tuple[str, dict[str, str]]]:
    bodies = []
    for i in range(n):
        payload = {"type": "block_actions", "team": {"id": "T0"}, "user": {"id": f"U{i % 500:05d}"},
                   "trigger_id": f"{run}.a.{i}", "response_url": f"{hook}/{run}-a{i}",
                   "channel": {"id": f"C{i % 100:05d}", "name": "general"},
                   "container": {"type": "message", "message_ts": "1700000000.000001",
                                 "channel_id": f"C{i % 100:05d}"},
                   "message": {"ts": "1700000000.000001", "text": "…"},
                   "actions": [{"type": "button", "action_id": "bench.press", "value": str(i),
                                "block_id": "chonai0:bench", "action_ts": f"{i}.0"}]}
        bodies.append(signed(urlencode({"payload": json.dumps(payload)})))
    return bodies


async def fire(url: str, requests: list[tuple[str, str, dict[str, str]]],
               concurrency: int) -> tuple[float, dict[str, list[float]], int]:
    """Send (kind, body, headers) requests, `concurrency` at a time; (seconds, latencies by
    kind, non-200 count)."""
    latencies: dict[str, list[float]] = {}
    failures = 0
    queue = iter(requests)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            nonlocal failures
            for kind, body, headers in queue:
                started = time.perf_counter()
                async with session.post(url + "/slack/events", data=body, headers=headers) as r:
                    await r.read()
                    if r.status != 200:
                        failures += 1
                latencies.setdefault(kind, []).append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, failures


def summary(name: str, kind: str, seconds: float, latencies: list[float], failures: int) -> dict:
    ordered = sorted(latencies)
    result = {"rps": len(ordered) / seconds, "p50": ordered[len(ordered) // 2] * 1000,
              "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000}
    failed = f"  ({failures} non-200)" if failures else ""
    print(f"{name:<36} {kind:<9} {result['rps']:>8.0f} req/s   p50 {result['p50']:>6.1f} ms"
          f"   p99 {result['p99']:>6.1f} ms{failed}", flush=True)
    return result


async def measure(name: str, url: str, n: int, concurrency: int, hook: str,
                  settle) -> dict:  # noqa: ANN001
    """Commands and clicks interleaved at `concurrency`, then one at a time."""
    run = uuid.uuid4().hex[:8]
    warm = min(200, n)
    await fire(url, [("c", *r) for r in commands(warm, run + "w", hook)], concurrency)
    await settle(warm)
    mixed = [item for pair in zip(commands(n, run, hook), clicks(n, run, hook))
             for item in (("commands", *pair[0]), ("clicks", *pair[1]))]
    seconds, latencies, failures = await fire(url, mixed, concurrency)
    results = {"all": summary(name, f"{concurrency} in fl.", seconds,
                              latencies["commands"] + latencies["clicks"], failures)}
    for kind in ("commands", "clicks"):
        # Per-kind rates share the run's wall time: each is half of the requests.
        results[kind] = summary(name, kind, seconds, latencies[kind], 0)
    await settle(warm + n)
    seconds, latencies, failures = await fire(
        url, [("serial", *r) for r in commands(200, run + "s", hook)], 1)
    results["serial"] = summary(name, "1 in fl.", seconds, latencies["serial"], failures)
    return results


async def stats(standin: str) -> dict:
    async with aiohttp.ClientSession() as session:
        async with session.get(standin + "/_stats") as resp:
            found = await resp.json()
    return {**found, "delivered": found["posts"] + found["hook_posts"]}


async def settle_bot(standin: str, expected: int, timeout: float = 120) -> tuple[int, float]:
    """Wait until the stand-in has `expected` replies; then a moment for the bot's bookkeeping."""
    started = time.monotonic()
    while True:
        delivered = (await stats(standin))["delivered"]
        if delivered >= expected or time.monotonic() - started > timeout:
            await asyncio.sleep(1.0)
            return delivered, time.monotonic() - started - 1.0
        await asyncio.sleep(0.1)


async def nothing_to_settle(expected: int) -> None:
    await asyncio.sleep(0.5)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="chonai-ack-") as tmp:
        tmp_path = Path(tmp)
        print(f"fsync median {fsync_ms(tmp):.2f} ms (fast state < 1 ms); "
              f"n={args.n} per kind, {args.concurrency} in flight", flush=True)
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "REDIS_URL", "SLACK_APP_TOKEN")}
        env["PYTHONPATH"] = str(ROOT)
        standin = Process([sys.executable, __file__, "--serve-standin"], env,
                          tmp_path / "standin.log")
        standin_url = standin.proc.stdout.readline().strip()
        hook = standin_url + "/hooks"
        processes = [standin]
        try:
            for mode in ("default", "pbr"):
                port = free_port()
                bare = Process([sys.executable, __file__, "--serve-bare", mode, str(port)], env,
                               tmp_path / f"bare-{mode}.log")
                processes.append(bare)
                await wait_healthy(f"http://127.0.0.1:{port}", bare)
                label = "bare bolt (default mode)" if mode == "default" else \
                    "bare bolt (process_before_response)"
                results = await measure(label, f"http://127.0.0.1:{port}", args.n,
                                        args.concurrency, hook, nothing_to_settle)
                if mode == "default":
                    reference = results
                bare.stop()
            port = free_port()
            bot_env = {**env, "CHONAI_DATA_DIR": str(tmp_path / "data"), "CHONAI_PORT": str(port),
                       "CHONAI_PII_KEY": "bench", "SLACK_BOT_TOKEN": "xoxb-test",
                       "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": standin_url + "/api/",
                       # Replies are delivered as fast as the stand-in takes them.
                       "CHONAI_SLACK_WORKSPACE_RATE": "100000",
                       "CHONAI_SLACK_WORKSPACE_BURST": "100000"}
            bot = Process([sys.executable, "-m", "bot.cli", "run"], bot_env, tmp_path / "bot.log")
            processes.append(bot)
            await wait_healthy(f"http://127.0.0.1:{port}", bot)
            before = (await stats(standin_url))["delivered"]

            async def bot_settled(expected: int) -> None:
                # Each /help is answered; the clicks have no handler and get no answer.
                delivered, seconds = await settle_bot(standin_url, before + expected)
                print(f"{'':<36} replies delivered {delivered - before}/{expected}, "
                      f"all out {seconds:.1f} s after the load", flush=True)

            mine = await measure("chonai bot (log, then ack)", f"http://127.0.0.1:{port}",
                                 args.n, args.concurrency, hook, bot_settled)
            ratio = mine["all"]["rps"] / reference["all"]["rps"]
            worst = max(mine["commands"]["p99"], mine["clicks"]["p99"])
            verdict = "ok" if ratio >= 0.5 and worst <= 100 else "MISSED"
            print(f"bot/bare throughput {ratio:.2f}x (target >= 0.5x), worst p99 {worst:.1f} ms "
                  f"(target <= 100 ms) at {args.concurrency} in flight: {verdict}")
        finally:
            for process in reversed(processes):
                process.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-standin"]:
        serve_standin()
    elif sys.argv[1:2] == ["--serve-bare"]:
        serve_bare(sys.argv[2], int(sys.argv[3]))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--n", type=int, default=2000, help="requests per kind")
        parser.add_argument("--concurrency", type=int, default=32)
        asyncio.run(main(parser.parse_args()))
