"""Event-log benchmark: durable single-event appends from concurrent writers, and replay.

    python bench/append.py [--writers 64] [--seconds 10] [--replay 1000000] [--pg URL]

Prints which fsync state the disk is in (one fsync timed), appends/s on SQLite
(synchronous=FULL) and PostgreSQL, and the time to replay N events into a projection.
Every append has committed before `append` returns.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from store.db import make_engine, write_transaction  # noqa: E402
from store.events import EventStore, NewEvent  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from store.projections import rebuild  # noqa: E402


def fsync_ms(directory: str, rounds: int = 20) -> float:
    path = os.path.join(directory, "fsync.probe")
    timings = []
    with open(path, "wb") as handle:
        for _ in range(rounds):
            handle.write(b"x" * 512)
            handle.flush()
            start = time.perf_counter()
            os.fsync(handle.fileno())
            timings.append((time.perf_counter() - start) * 1000)
    os.unlink(path)
    return statistics.median(timings)


async def appends(url: str, writers: int, seconds: float) -> tuple[float, float, int]:
    engine = make_engine(url)
    upgrade(engine)
    store = EventStore(engine)
    await store.start()
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def writer(n: int) -> None:
        i = 0
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            await store.append(NewEvent("bench.appended", f"writer:{n}", {"n": n, "i": i},
                                        idempotency_key=f"bench:{n}:{i}"))
            latencies.append(time.perf_counter() - start)
            i += 1

    started = time.perf_counter()
    await asyncio.gather(*(writer(n) for n in range(writers)))
    elapsed = time.perf_counter() - started
    await store.stop()
    engine.dispose()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0
    return len(latencies) / elapsed, p99, len(latencies)


class CountByType:
    """A projection that keeps counts per event type (a table of its own)."""

    name = "bench_counts"
    types = frozenset({"bench.appended", "bench.other"})

    def apply(self, conn, batch) -> None:
        counts: dict[str, int] = {}
        for event in batch:
            counts[event.type] = counts.get(event.type, 0) + 1
        for kind, n in counts.items():
            conn.execute(text("INSERT INTO bench_counts (type, n) VALUES (:t, :n) ON CONFLICT "
                              "(type) DO UPDATE SET n = bench_counts.n + :n"), {"t": kind, "n": n})

    def reset(self, conn) -> None:
        conn.execute(text("DELETE FROM bench_counts"))


async def fill(url: str, total: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    store = EventStore(engine)
    await store.start()
    have = store.head()[0]
    chunk = 2000
    while have < total:
        size = min(chunk, total - have)
        await store.append(*(NewEvent("bench.appended" if i % 2 else "bench.other",
                                      f"s:{(have + i) % 5000}", {"i": have + i, "note": "replay"})
                             for i in range(size)))
        have += size
    await store.stop()
    with write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_counts "
                          "(type VARCHAR(50) PRIMARY KEY, n BIGINT)"))
    engine.dispose()


def replay(url: str) -> tuple[float, int]:
    engine = make_engine(url)
    started = time.perf_counter()
    applied = rebuild(engine, CountByType())
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, applied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--replay", type=int, default=1_000_000)
    parser.add_argument("--pg", default=os.environ.get(
        "CHONAI_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="chonai-bench-")
    ms = fsync_ms(tmp)
    state = "fast" if ms < 1 else "slow"
    print(f"fsync: {ms:.2f} ms median → disk in the {state} state")

    sqlite_url = f"sqlite:///{tmp}/append.db"
    rate, p99, n = asyncio.run(appends(sqlite_url, args.writers, args.seconds))
    print(f"SQLite (synchronous=FULL): {rate:,.0f} durable appends/s, p99 {p99:.1f} ms, "
          f"{args.writers} writers, {n:,} events")
    try:
        import psycopg

        name = f"chonai_bench_{os.getpid()}"
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        pg_url = args.pg.rsplit("/", 1)[0] + "/" + name
        rate, p99, n = asyncio.run(appends(pg_url, args.writers, args.seconds))
        print(f"PostgreSQL: {rate:,.0f} durable appends/s, p99 {p99:.1f} ms, "
              f"{args.writers} writers, {n:,} events")
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:  # noqa: BLE001
        print(f"PostgreSQL: skipped ({type(exc).__name__}: {exc})")

    if args.replay:
        replay_url = f"sqlite:///{tmp}/replay.db"
        started = time.perf_counter()
        asyncio.run(fill(replay_url, args.replay))
        print(f"filled {args.replay:,} events in {time.perf_counter() - started:.1f} s")
        elapsed, applied = replay(replay_url)
        print(f"replay: {applied:,} events into a projection in {elapsed:.2f} s "
              f"({applied / elapsed:,.0f} events/s)")
    print(f"fsync after the run: {fsync_ms(tmp):.2f} ms median")


if __name__ == "__main__":
    main()
