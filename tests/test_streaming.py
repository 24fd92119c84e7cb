"""q.iter(): a server-side cursor in constant memory; db.batch(): one round trip."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Iterator

import pytest

from pgbuild import (
    AsyncDatabase,
    Database,
    IntegrityError,
    QueryError,
    Table,
    desc,
    eq,
    gte,
    integer,
    sql,
    text,
)


class Events(Table, name="stream_events"):
    id = integer().primary_key()
    kind = text().not_null()
    payload = text()


ROWS = 200_000


@pytest.fixture(scope="module", autouse=True)
def events(db: Database) -> Iterator[None]:
    db.create_tables(Events)
    db.execute(
        sql(
            "INSERT INTO stream_events (id, kind, payload) SELECT g, 'k' || (g % 7),"
            " repeat('x', 40) FROM generate_series(1, {n}) AS g",
            n=ROWS,
        )
    )
    yield


def _peak(run: object) -> int:
    tracemalloc.start()
    try:
        run()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_iter_streams_every_row_in_constant_memory(
    db: Database, executor: str, database_url: str
) -> None:
    seen = 0
    total = 0

    def stream() -> None:
        nonlocal seen, total
        for row in db.select().from_(Events).order_by(Events.id).iter(batch_size=2000):
            seen += 1
            total += row.id

    async def stream_async() -> None:
        # The async twin natively (the test bridge would hop threads per row).
        nonlocal seen, total
        async with AsyncDatabase(database_url, min_size=1, max_size=1) as adb:
            query = adb.select().from_(Events).order_by(Events.id)
            async for row in query.iter(batch_size=2000):
                seen += 1
                total += row.id

    if executor == "async":
        streamed_peak = _peak(lambda: asyncio.run(stream_async()))
    else:
        streamed_peak = _peak(stream)
    assert seen == ROWS and total == ROWS * (ROWS + 1) // 2
    # What .all() needs for a tenth of the rows, as a yardstick: streaming all
    # of them must stay far below what .all() would need for all of them.
    tenth = db.select().from_(Events).where(gte(Events.id, ROWS - ROWS // 10 + 1))
    all_peak_tenth = _peak(lambda: tenth.all())
    assert streamed_peak * 20 < all_peak_tenth * 10, (streamed_peak, all_peak_tenth)


def test_iter_keeps_the_row_shape_and_filters(db: Database) -> None:
    rows = list(
        db.select(Events.id, Events.kind)
        .from_(Events)
        .where(eq(Events.kind, "k3"))
        .order_by(desc(Events.id))
        .limit(3)
        .iter(batch_size=2)
    )
    assert rows == [(200000, "k3"), (199993, "k3"), (199986, "k3")]


def test_stopping_early_releases_the_connection(db: Database) -> None:
    for _ in range(10):  # the pool has 4 connections: a leak would hang here
        for row in db.select().from_(Events).iter(batch_size=10):
            assert row.id >= 1
            break
    assert db.count(Events) == ROWS


def test_iter_inside_a_transaction_sees_its_writes(db: Database) -> None:
    with db.transaction() as tx:
        tx.insert(Events).values({"id": ROWS + 1, "kind": "new"}).execute()
        kinds = [r.kind for r in tx.select().from_(Events).where(eq(Events.kind, "new")).iter()]
        assert kinds == ["new"]
        tx.delete(Events).where(eq(Events.id, ROWS + 1)).execute()


def test_iter_needs_a_positive_batch_size(db: Database) -> None:
    with pytest.raises(QueryError):
        db.select().from_(Events).iter(batch_size=0)


def test_batch_runs_statements_in_order_and_returns_each_result(db: Database) -> None:
    n, inserted, found, gone = db.batch(
        [
            db.select(Events.id).from_(Events).where(eq(Events.id, 1)),
            db.insert(Events).values({"id": -1, "kind": "b"}).returning(Events.id),
            db.select(Events.kind).from_(Events).where(eq(Events.id, -1)),
            db.delete(Events).where(eq(Events.id, -1)),
        ]
    )
    assert (n, inserted, found, gone) == ([(1,)], [(-1,)], [("b",)], 1)
    assert db.count(Events, eq(Events.id, -1)) == 0


def test_a_failing_statement_in_a_batch_rolls_back_the_others(db: Database) -> None:
    with pytest.raises(IntegrityError):
        db.batch(
            [
                db.insert(Events).values({"id": -2, "kind": "b"}),
                db.insert(Events).values({"id": 1, "kind": "duplicate"}),
            ]
        )
    assert db.count(Events, eq(Events.id, -2)) == 0


def test_an_empty_batch_is_an_error(db: Database) -> None:
    with pytest.raises(QueryError):
        db.batch([])
