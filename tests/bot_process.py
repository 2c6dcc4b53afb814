"""A real `chonai run` process on a free loopback port, for the crash tests and bench/faults.py."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BotProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = {**env, "CHONAI_PORT": str(free_port())}
        self.url = f"http://127.0.0.1:{self.env['CHONAI_PORT']}"
        self.log = log
        self.proc: subprocess.Popen | None = None

    async def start(self, timeout: float = 60) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=self.env,
                                     cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=self.log.open("ab"))
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                try:
                    async with session.get(self.url + "/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("bot did not start: " + self.log.read_text()[-2000:])

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a power cut."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
