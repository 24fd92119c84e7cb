"""Read replicas, on a real primary and a streaming replica of it
(``tests/topology.py``): where each statement runs is read back from the
server itself with ``pg_is_in_recovery()`` (true only on the replica).

Every test runs on ``Database`` and on ``AsyncDatabase`` (one async body,
see :class:`tests.conftest.Twin`).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from pgbuild import (
    AsyncDatabase,
    Database,
    Table,
    TransactionRollback,
    eq,
    integer,
    placeholder,
    sql,
    text,
)
from tests.conftest import Twin

if TYPE_CHECKING:
    from tests.topology import ReplicaPair

# The replica_pair fixture; imported by pytest (not above) so that its asserts are rewritten.
pytest_plugins = ["tests.topology"]

RETRY = 0.5  # seconds before a replica that failed is tried again
WAIT = 1.0  # seconds a read waits for a replica connection; check_health's timeout
IN_RECOVERY = sql("pg_is_in_recovery()")  # true on the replica, false on the primary
SEED = [1, 2, 3]


class Items(Table, name="replica_items"):
    id = integer().primary_key()
    label = text().not_null()


@pytest.fixture(scope="module")
def urls(replica_pair: ReplicaPair) -> Iterator[tuple[str, str]]:
    """(primary, replica) conninfo of a fresh database that has ``Items``."""
    with replica_pair.database("replicas") as (primary, replica):
        with Database(primary) as db:
            db.create_tables(Items)
        yield primary, replica


def connect(cls: type[Any], primary: str, replicas: list[str], **options: Any) -> Any:
    return cls(primary, replicas=replicas, replica_retry=RETRY, replica_timeout=WAIT,
               min_size=1, max_size=4, **options)


@pytest.fixture(scope="module", params=["sync", "async"])
def t(request: pytest.FixtureRequest, urls: tuple[str, str]) -> Iterator[Twin]:
    """A Database (or AsyncDatabase) on the primary with the replica for reads."""
    primary, replica = urls
    loop = asyncio.new_event_loop()
    if request.param == "async":
        adb = connect(AsyncDatabase, primary, [replica])
        try:
            yield Twin(adb, loop, True)
        finally:
            loop.run_until_complete(adb.close())
            loop.close()
    else:
        db = connect(Database, primary, [replica])
        try:
            yield Twin(db, loop, False)
        finally:
            db.close()
            loop.close()


@pytest.fixture(autouse=True)
def seeded(urls: tuple[str, str], replica_pair: ReplicaPair) -> None:
    """Items 1..3 on the primary, replayed on a running, undelayed replica."""
    if not replica_pair.replica.running:
        replica_pair.start_replica()
    replica_pair.set_apply_delay(0)
    with psycopg.connect(urls[0], autocommit=True) as conn:
        conn.execute("TRUNCATE replica_items")
        conn.execute(
            "INSERT INTO replica_items SELECT i, 'item ' || i FROM generate_series(1, 3) i")
    replica_pair.sync()


async def collect(t: Twin, query: Any, batch_size: int = 2) -> list[Any]:
    """The rows ``query.iter()`` streams, sync or async."""
    rows = query.iter(batch_size=batch_size)
    if t.is_async:
        return [row async for row in rows]
    return list(rows)


def where(rows: list[Any]) -> set[bool]:
    """The ``r`` (pg_is_in_recovery) of every row: {True} means the replica ran it."""
    return {row.r for row in rows}


# ------------------------------------------------------------------ routing


def test_reads_run_on_the_replica(t: Twin) -> None:
    async def body(t: Twin) -> None:
        db = t.db
        q = db.select(id=Items.id, r=IN_RECOVERY).from_(Items).order_by(Items.id)
        rows = await t.r(q.all())
        assert [(row.id, row.r) for row in rows] == [(1, True), (2, True), (3, True)]
        assert (await t.r(q.first())).r is True
        assert (await t.r(q.where(eq(Items.id, 2)).one())).r is True
        assert where(await collect(t, q)) == {True}
        both = db.select(r=IN_RECOVERY).from_(Items).union_all(
            db.select(r=IN_RECOVERY).from_(Items))
        assert where(await t.r(both.all())) == {True}

        found = await t.r(db.query(Items).find_many(extras={"r": IN_RECOVERY}))
        assert where(found) == {True} and len(found) == 3
        one = await t.r(db.query(Items).find_first(where=eq(Items.id, 3),
                                                   extras={"r": IN_RECOVERY}))
        assert (one.label, one.r) == ("item 3", True)

        by_id = db.select(label=Items.label, r=IN_RECOVERY).from_(Items).where(
            eq(Items.id, placeholder("id"))).prepare()
        for i in SEED * 3:  # past psycopg's prepare threshold
            row = await t.r(by_id.one(id=i))
            assert (row.label, row.r) == (f"item {i}", True)
        related = db.query(Items).prepare(where=eq(Items.id, placeholder("id")),
                                          extras={"r": IN_RECOVERY})
        assert (await t.r(related.first(id=1))).r is True

    t.run(body)


def test_writes_and_raw_statements_run_on_the_primary(t: Twin) -> None:
    async def body(t: Twin) -> None:
        db = t.db
        added = await t.r(db.insert(Items).values({"id": 10, "label": "x"})
                          .returning(r=IN_RECOVERY).one())
        assert added.r is False
        assert await t.r(db.insert(Items).values({"id": 11, "label": "y"}).execute()) == 1
        changed = await t.r(db.update(Items).set({"label": "z"}).where(eq(Items.id, 10))
                            .returning(r=IN_RECOVERY).all())
        assert where(changed) == {False}
        gone = await t.r(db.delete(Items).where(eq(Items.id, 11)).returning(r=IN_RECOVERY).all())
        assert where(gone) == {False}
        assert await t.r(db.copy_into(Items, [{"id": 12, "label": "c"}])) == 1
        insert = db.insert(Items).values({"id": placeholder("id"), "label": "p"}).prepare()
        for i in range(20, 26):
            assert await t.r(insert.execute(id=i)) == 1
        raw = await t.r(db.execute(sql("SELECT pg_is_in_recovery() AS r")))
        assert raw.one().r is False
        # every write landed on the primary, and reaches the replica
        assert await t.r(db.primary.count(Items)) == 3 + 2 + 6

    t.run(body)


def test_every_statement_in_a_transaction_runs_on_the_primary(t: Twin) -> None:
    async def body(t: Twin) -> None:
        db = t.db
        async with t.transaction(db) as tx:
            assert where(await t.r(tx.select(r=IN_RECOVERY).from_(Items).all())) == {False}
            await t.r(tx.insert(Items).values({"id": 30, "label": "in tx"}).execute())
            assert await t.r(tx.count(Items)) == 4  # its own write: the primary
            found = await t.r(tx.query(Items).find_first(where=eq(Items.id, 30),
                                                         extras={"r": IN_RECOVERY}))
            assert (found.label, found.r) == ("in tx", False)
            assert where(await collect(t, tx.select(r=IN_RECOVERY).from_(Items))) == {False}
            with pytest.raises(TransactionRollback):
                async with t.transaction(tx) as savepoint:
                    rows = await t.r(savepoint.select(r=IN_RECOVERY).from_(Items).all())
                    assert where(rows) == {False}
                    await t.r(savepoint.rollback())
        async with t.transaction(db, read_only=True) as tx:
            assert where(await t.r(tx.select(r=IN_RECOVERY).from_(Items).all())) == {False}

    t.run(body)


def test_db_primary_forces_the_primary(t: Twin) -> None:
    async def body(t: Twin) -> None:
        primary = t.db.primary
        q = primary.select(id=Items.id, r=IN_RECOVERY).from_(Items).order_by(Items.id)
        assert [(row.id, row.r) for row in await t.r(q.all())] == [
            (1, False), (2, False), (3, False)]
        assert where(await collect(t, q)) == {False}
        found = await t.r(primary.query(Items).find_many(extras={"r": IN_RECOVERY}))
        assert where(found) == {False}
        by_id = primary.select(r=IN_RECOVERY).from_(Items).where(
            eq(Items.id, placeholder("id"))).prepare()
        assert (await t.r(by_id.one(id=1))).r is False
        # and the database itself still reads from the replica
        assert where(await t.r(t.db.select(r=IN_RECOVERY).from_(Items).all())) == {True}

    t.run(body)


def test_locked_selects_and_batches_with_a_write_run_on_the_primary(t: Twin) -> None:
    async def body(t: Twin) -> None:
        db = t.db
        one = db.select(id=Items.id, r=IN_RECOVERY).from_(Items).where(eq(Items.id, 1))
        assert where(await t.r(one.for_("update").all())) == {False}
        assert where(await t.r(one.for_update(skip_locked=True).all())) == {False}
        assert where(await t.r(one.for_share().all())) == {False}
        assert where(await t.r(one.for_("key share").all())) == {False}

        rows, n = await t.r(db.batch([one, db.insert(Items).values({"id": 40, "label": "b"})]))
        assert where(rows) == {False} and n == 1
        n, rows = await t.r(db.batch([db.update(Items).set({"label": "B"})
                                      .where(eq(Items.id, 40)), one]))
        assert n == 1 and where(rows) == {False}

    t.run(body)


# ------------------------------------------------------------------ lag


def test_under_replication_lag_reads_see_the_replica_and_db_primary_sees_the_write(
    t: Twin, replica_pair: ReplicaPair
) -> None:
    async def body(t: Twin) -> None:
        db = t.db
        replica_pair.set_apply_delay(60_000)  # replay stops at the next commit
        try:
            await t.r(db.insert(Items).values({"id": 50, "label": "fresh"}).execute())
            fresh = eq(Items.id, 50)
            # every kind of read runs on the replica, which has not replayed it
            assert await t.r(db.select().from_(Items).where(fresh).first()) is None
            assert await t.r(db.count(Items)) == 3
            assert await t.r(db.query(Items).find_first(where=fresh)) is None
            assert len(await t.r(db.query(Items).find_many())) == 3
            by_id = db.select().from_(Items).where(eq(Items.id, placeholder("id"))).prepare()
            assert await t.r(by_id.first(id=50)) is None
            assert [row.id for row in await collect(t, db.select().from_(Items))] == SEED
            # read your write: on the primary
            assert (await t.r(db.primary.select().from_(Items).where(fresh).one())).label == "fresh"
            assert await t.r(db.primary.count(Items)) == 4
            async with t.transaction(db) as tx:
                assert await t.r(tx.count(Items)) == 4
        finally:
            replica_pair.set_apply_delay(0)
        replica_pair.sync()
        assert await t.r(db.count(Items)) == 4
        assert (await t.r(db.select(r=IN_RECOVERY).from_(Items).where(fresh).one())).r is True

    t.run(body)


# ------------------------------------------------------------------ failures


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)


def test_stopping_the_replica_mid_run_loses_no_read_and_starting_it_brings_reads_back(
    t: Twin, replica_pair: ReplicaPair, urls: tuple[str, str]
) -> None:
    replica_url = urls[1]
    on_replica: list[bool] = []  # one entry per read: did the replica run it?
    lost: list[str] = []  # a read that failed or returned the wrong rows
    stop = threading.Event()

    async def reads(t: Twin) -> None:
        q = t.db.select(id=Items.id, r=IN_RECOVERY).from_(Items).order_by(Items.id)
        while not stop.is_set():
            try:
                rows = await t.r(q.all())
            except Exception as exc:
                lost.append(f"read {len(on_replica)}: {type(exc).__name__}: {exc}")
                return
            if [row.id for row in rows] != SEED or len(where(rows)) != 1:
                lost.append(f"read {len(on_replica)}: wrong rows {rows}")
                return
            on_replica.append(rows[0].r)
            await asyncio.sleep(0.002)

    async def body(t: Twin) -> None:
        if t.is_async:  # a task on the same loop
            reader: Any = asyncio.ensure_future(reads(t))
        else:  # a thread
            reader = asyncio.ensure_future(asyncio.to_thread(asyncio.run, reads(t)))

        async def reading_until(condition: Callable[[], bool], timeout: float,
                                what: str) -> None:
            await until(lambda: condition() or reader.done(), timeout, what)
            assert lost == [], "a read was lost"
            assert not reader.done()

        try:
            await reading_until(lambda: len(on_replica) >= 20, 10, "20 reads")
            assert all(on_replica), "reads ran on the primary while the replica was up"
            health = await t.r(t.db.check_health(WAIT))
            assert health and health.primary is True and health.replicas == {replica_url: True}

            await asyncio.to_thread(replica_pair.stop_replica)
            stopped = len(on_replica)
            await reading_until(lambda: on_replica[stopped:].count(False) >= 20, 15,
                                "20 reads on the primary after the replica stopped")
            health = await t.r(t.db.check_health(WAIT))
            assert health, "the primary answers"
            assert health.primary is True and health.replicas == {replica_url: False}

            await asyncio.to_thread(replica_pair.start_replica)
            started = len(on_replica)
            await reading_until(lambda: True in on_replica[started:], 20,
                                "reads back on the replica after it started")
            health = await t.r(t.db.check_health(WAIT))
            assert health.replicas == {replica_url: True}
        finally:
            stop.set()
            await reader
        assert lost == []
        assert on_replica[-1] is True

    t.run(body)


def test_a_dead_replica_is_skipped_and_pick_chooses_among_the_healthy(
    t: Twin, urls: tuple[str, str]
) -> None:
    primary, replica = urls
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = make_conninfo(replica, port=str(probe.getsockname()[1]))
    calls: list[list[str]] = []

    def prefer_first(healthy: list[str]) -> str:
        calls.append(list(healthy))
        return healthy[0]

    async def body(t: Twin) -> None:
        cls = AsyncDatabase if t.is_async else Database
        db = connect(cls, primary, [dead, replica], pick=prefer_first)
        try:
            q = db.select(r=IN_RECOVERY).from_(Items)
            assert where(await t.r(q.all())) == {True}  # tried dead, then the replica
            assert calls[0] == [dead, replica]
            # marked down: later reads do not try it first (nor wait for it)
            started = time.monotonic()
            for _ in range(50):
                assert where(await t.r(q.all())) == {True}
            assert time.monotonic() - started < 5 * WAIT  # trying it would cost WAIT each
            assert all(c == [replica] for c in calls[1:]), calls
            health = await t.r(db.check_health(WAIT))
            assert health.primary is True and health.replicas == {dead: False, replica: True}
        finally:
            await t.r(db.close())

        # no replica left: reads go to the primary
        alone = connect(cls, primary, [dead])
        try:
            assert where(await t.r(alone.select(r=IN_RECOVERY).from_(Items).all())) == {False}
            assert await t.r(alone.count(Items)) == 3
            health = await t.r(alone.check_health(WAIT))
            assert health and health.replicas == {dead: False}
        finally:
            await t.r(alone.close())

    t.run(body)


def test_without_replicas_health_is_the_primary_alone(urls: tuple[str, str]) -> None:
    with Database(urls[0]) as db:
        health = db.check_health()
        assert health and health.primary is True and health.replicas == {}

