"""The event store's contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from store.db import make_engine, write_transaction
from store.events import ConcurrencyError, EventStore, NewEvent
from store.migrate import upgrade
from store.projections import ProjectionRunner, catch_up, rebuild
from store.verify import verify


@pytest.fixture
async def store(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    event_store = EventStore(engine)
    await event_store.start()
    yield event_store
    await event_store.stop()
    engine.dispose()


async def test_append_assigns_positions_versions_and_metadata(store):
    first, second = await store.append(
        NewEvent("thing.happened", "thing:1", {"n": 1}, actor="u1", platform="local",
                 correlation_id="c1"),
        NewEvent("thing.happened", "thing:1", {"n": 2}, causation_id="1"))
    assert (first.position, first.stream_version) == (1, 1)
    assert (second.position, second.stream_version) == (2, 2)
    stored = store.read(0)
    assert [e.payload["n"] for e in stored] == [1, 2]
    assert stored[0].actor == "u1" and stored[0].platform == "local"
    assert stored[0].correlation_id == "c1" and stored[1].causation_id == "1"
    assert stored[0].occurred_at.endswith("Z") and stored[0].schema_version == 1


async def test_idempotency_key_makes_a_retry_a_no_op(store):
    [first] = await store.append(NewEvent("in", "room:a", {"x": 1}, idempotency_key="slack:Ev1"))
    [again] = await store.append(NewEvent("in", "room:a", {"x": 999}, idempotency_key="slack:Ev1"))
    assert again.position == first.position and again.payload == {"x": 1}
    assert len(store.read(0)) == 1


async def test_concurrent_retries_of_one_delivery_store_one_event(store):
    results = await asyncio.gather(*(
        store.append(NewEvent("in", "room:a", {"try": i}, idempotency_key="dup"))
        for i in range(20)))
    assert len({r[0].position for r in results}) == 1
    assert len(store.read(0)) == 1


async def test_optimistic_concurrency(store):
    await store.append(NewEvent("a", "s", {}, expected_version=0))
    with pytest.raises(ConcurrencyError):
        await store.append(NewEvent("a", "s", {}, expected_version=0))
    await store.append(NewEvent("a", "s", {}, expected_version=1))
    assert store.stream_version("s") == 2


async def test_a_failed_request_does_not_harm_others_in_the_same_batch(store):
    await store.append(NewEvent("a", "s", {}))
    outcomes = await asyncio.gather(
        store.append(NewEvent("b", "t", {"ok": 1})),
        store.append(NewEvent("a", "s", {}, expected_version=0)),
        store.append(NewEvent("b", "u", {"ok": 2})),
        return_exceptions=True)
    assert isinstance(outcomes[1], ConcurrencyError)
    assert [e.type for e in store.read(0)] == ["a", "b", "b"]


async def test_many_concurrent_writers_give_a_gapless_ordered_log(store):
    async def writer(i: int) -> None:
        for j in range(25):
            await store.append(NewEvent("w", f"writer:{i}", {"i": i, "j": j}))

    await asyncio.gather(*(writer(i) for i in range(16)))
    events = store.read(0, limit=10_000)
    assert [e.position for e in events] == list(range(1, 401))
    for i in range(16):
        assert [e.payload["j"] for e in events if e.payload["i"] == i] == list(range(25))
    assert verify(store.engine).ok


async def test_two_processes_worth_of_writers_share_one_chain(database_url):
    """Two stores on one database (as two bot instances): positions stay gapless and the
    chain verifies, so no follower can skip an event committed late under a lower position."""
    engines = [make_engine(database_url) for _ in range(2)]
    upgrade(engines[0])
    stores = [EventStore(e) for e in engines]
    for s in stores:
        await s.start()

    async def writer(s: EventStore, n: int) -> None:
        for j in range(40):
            await s.append(NewEvent("w", f"w:{n}:{j % 3}", {"n": n}))

    await asyncio.gather(*(writer(stores[k % 2], k) for k in range(8)))
    events = stores[0].read(0, limit=10_000)
    assert [e.position for e in events] == list(range(1, 321))
    assert verify(engines[0]).ok
    for s, e in zip(stores, engines):
        await s.stop()
        e.dispose()


async def _seed(store, n=5):
    for i in range(n):
        await store.append(NewEvent("t", "s", {"i": i}))


async def test_verify_accepts_an_untouched_log(store):
    await _seed(store)
    verdict = verify(store.engine)
    assert verdict.ok and verdict.checked == 5


@pytest.mark.parametrize("tamper, bad", [
    ("UPDATE events SET payload = '{\"i\": 42}' WHERE position = 3", 3),
    ("DELETE FROM events WHERE position = 2", 2),
    ("DELETE FROM events WHERE position = 5", 5),
    ("UPDATE events SET occurred_at = '2000-01-01T00:00:00.000000Z' WHERE position = 4", 4),
])
async def test_verify_names_the_first_bad_position(store, tamper, bad):
    await _seed(store)
    with write_transaction(store.engine) as conn:
        conn.execute(text(tamper))
    verdict = verify(store.engine)
    assert not verdict.ok and verdict.bad_position == bad


async def test_verify_detects_reordering(store):
    await _seed(store)
    with write_transaction(store.engine) as conn:
        conn.execute(text("UPDATE events SET position = 100 WHERE position = 2"))
        conn.execute(text("UPDATE events SET position = 2 WHERE position = 3"))
        conn.execute(text("UPDATE events SET position = 3 WHERE position = 100"))
    verdict = verify(store.engine)
    assert not verdict.ok and verdict.bad_position == 2


class Counter:
    """A tiny read model: counts of events per type, in a table of its own."""

    name = "test_counter"
    types = frozenset({"t", "u"})

    def __init__(self) -> None:
        self.batches = 0

    def apply(self, conn, batch) -> None:
        self.batches += 1
        for event in batch:
            conn.execute(text("INSERT INTO test_counts (type, n) VALUES (:t, 1) "
                              "ON CONFLICT (type) DO UPDATE SET n = test_counts.n + 1"),
                         {"t": event.type})

    def reset(self, conn) -> None:
        conn.execute(text("DELETE FROM test_counts"))


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT type, n FROM test_counts")).all())


async def test_projection_applies_each_event_once_and_resumes(store):
    with write_transaction(store.engine) as conn:
        conn.execute(text("CREATE TABLE test_counts (type VARCHAR(20) PRIMARY KEY, n INTEGER)"))
    await _seed(store, 3)
    await store.append(NewEvent("other", "x", {}))
    projection = Counter()
    assert catch_up(store.engine, projection) == 3
    assert catch_up(store.engine, projection) == 0  # nothing twice
    await store.append(NewEvent("u", "s2", {}))
    runner = ProjectionRunner(store.engine, [Counter()])  # a "restarted" process
    assert await runner.catch_up_all() == 1
    assert _counts(store.engine) == {"t": 3, "u": 1}
    assert rebuild(store.engine, projection) == 4
    assert _counts(store.engine) == {"t": 3, "u": 1}


async def test_stop_writes_everything_queued(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    store = EventStore(engine)
    await store.start()
    pending = [asyncio.create_task(store.append(NewEvent("q", "s", {"i": i}))) for i in range(50)]
    await asyncio.sleep(0)
    await store.stop()
    await asyncio.gather(*pending)
    assert len(EventStore(engine).read(0)) == 50
    engine.dispose()
