"""Behind a real PgBouncer in transaction mode (``tests/topology.py``: a
server pool of 2 per database, so 8 client threads share 2 server sessions
and consecutive transactions of one client land on either).

A control run with raw psycopg and server-side prepares shows the harness
reproduces the failure poolers are known for; pgbuild with
``pooler="transaction"`` then runs thousands of mixed operations on it
without one error; migrations refuse the pooler and use
``DATABASE_DIRECT_URL``.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from pgbuild import (
    AsyncDatabase,
    Database,
    PgbuildError,
    Table,
    TransactionRollback,
    eq,
    integer,
    placeholder,
    sql,
    text,
)
from tests.conftest import Twin, fresh_database

if TYPE_CHECKING:
    from tests.topology import Bouncer

# The pgbouncer fixture; imported by pytest (not above) so that its asserts are rewritten.
pytest_plugins = ["tests.topology"]

THREADS = 8
PGBOUNCER_PORT = 6432


class Jobs(Table, name="pooler_jobs"):
    id = integer().primary_key()
    worker = integer().not_null()
    label = text().not_null()


@pytest.fixture
def bounced(pgbouncer: Bouncer) -> Iterator[tuple[str, str]]:
    """A fresh database with ``Jobs``: (through PgBouncer, direct) conninfo."""
    with fresh_database(pgbouncer.direct_url(), "pooler") as direct:
        with Database(direct) as db:
            db.create_tables(Jobs)
        yield pgbouncer.url(str(conninfo_to_dict(direct)["dbname"])), direct


def run_threads(target: Any, n: int = THREADS) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"


def server_prepared_statements(url: str) -> list[str]:
    """The prepared statements of every server session behind the pooler:
    one transaction per server connection, all open at once, pins each."""
    sessions = [psycopg.connect(url) for _ in range(2)]  # the pool size
    try:
        names: list[str] = []
        for conn in sessions:
            names += [row[0] for row in conn.execute("SELECT name FROM pg_prepared_statements")]
        assert len({conn.execute("SELECT pg_backend_pid()").fetchone() for conn in sessions}) == 2
        return names
    finally:
        for conn in sessions:
            conn.close()


# ------------------------------------------------------------------ the control run


def test_control_raw_psycopg_with_server_side_prepares_fails_behind_the_pooler(
    bounced: tuple[str, str]
) -> None:
    url, _ = bounced
    errors: list[str] = []
    start = threading.Barrier(THREADS)
    shapes = ["SELECT %s::int + 1", "SELECT %s::int * 2", "SELECT count(*) FROM pooler_jobs "
              "WHERE worker = %s"]

    def worker(n: int) -> None:
        with psycopg.connect(url, autocommit=True, prepare_threshold=0) as conn:
            start.wait()
            for i in range(40):
                try:
                    conn.execute(shapes[(n + i) % 3], (i,)).fetchone()  # type: ignore[arg-type]
                except psycopg.Error as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

    run_threads(worker)
    known = [e for e in errors
             if re.search(r'prepared statement "[^"]+" (does not exist|already exists)', e)]
    assert known, f"the pooler harness did not break server-side prepares: {errors[:5]}"


# ------------------------------------------------------------------ pgbuild behind it


async def workload(t: Twin, w: int, ops: int, errors: list[str], counts: dict[int, int]) -> None:
    """``ops`` operations of ten kinds as worker ``w``, which alone writes
    rows with ``worker = w``, so every read knows what it must see."""
    db = t.db
    mine: list[int] = []  # ids of this worker's committed rows, in order
    next_id = w * 1_000_000

    by_worker = db.select(Jobs.id).from_(Jobs).where(
        eq(Jobs.worker, placeholder("w"))).order_by(Jobs.id).prepare()
    add = db.insert(Jobs).values(
        {"id": placeholder("id"), "worker": placeholder("w"), "label": "prepared"}).prepare()
    by_id = db.select().from_(Jobs).where(eq(Jobs.id, placeholder("id"))).prepare()
    related = db.query(Jobs).prepare(where=eq(Jobs.id, placeholder("id")))
    own = eq(Jobs.worker, w)

    for i in range(ops):
        kind = i % 10
        try:
            if kind == 0:  # ad-hoc select
                row = await t.r(db.select().from_(Jobs).where(eq(Jobs.id, next_id - 1)).first())
                assert (row is None) == (not mine or mine[-1] != next_id - 1)
            elif kind == 1:  # ad-hoc insert
                n = await t.r(db.insert(Jobs).values(
                    {"id": next_id, "worker": w, "label": f"adhoc {i}"}).execute())
                assert n == 1
                mine.append(next_id)
                next_id += 1
            elif kind == 2:  # prepared select
                assert [r[0] for r in await t.r(by_worker.all(w=w))] == mine
            elif kind == 3:  # prepared insert, prepared point select, relational
                assert await t.r(add.execute(id=next_id, w=w)) == 1
                mine.append(next_id)
                next_id += 1
                assert (await t.r(by_id.one(id=mine[0]))).worker == w
                assert (await t.r(related.first(id=mine[-1]))).label == "prepared"
            elif kind == 4:  # a transaction with a savepoint rolled back
                async with t.transaction(db) as tx:
                    await t.r(tx.insert(Jobs).values(
                        {"id": next_id, "worker": w, "label": "tx"}).execute())
                    try:
                        async with t.transaction(tx) as savepoint:
                            await t.r(savepoint.insert(Jobs).values(
                                {"id": next_id + 1, "worker": w, "label": "undone"}).execute())
                            assert await t.r(savepoint.count(Jobs, own)) == len(mine) + 2
                            await t.r(savepoint.rollback())
                    except TransactionRollback:
                        pass
                    assert await t.r(tx.count(Jobs, own)) == len(mine) + 1
                mine.append(next_id)
                next_id += 2
            elif kind == 5:  # streaming through a server-side cursor
                rows = db.select(Jobs.id).from_(Jobs).where(own).order_by(Jobs.id).iter(
                    batch_size=7)
                ids = [r[0] async for r in rows] if t.is_async else [r[0] for r in rows]
                assert ids == mine
            elif kind == 6:  # COPY
                batch = [{"id": next_id + k, "worker": w, "label": "copied"} for k in range(3)]
                assert await t.r(db.copy_into(Jobs, batch)) == 3
                mine += [next_id, next_id + 1, next_id + 2]
                next_id += 3
            elif kind == 7:  # count, and a read-only transaction
                assert await t.r(db.count(Jobs, own)) == len(mine)
                async with t.transaction(db, read_only=True,
                                         isolation_level="repeatable read") as tx:
                    assert await t.r(tx.count(Jobs, own)) == len(mine)
            elif kind == 8:  # ad-hoc update
                if mine:
                    n = await t.r(db.update(Jobs).set({"label": f"updated {i}"})
                                  .where(eq(Jobs.id, mine[-1])).execute())
                    assert n == 1
            else:  # raw SQL and a batch with a write
                raw = await t.r(db.execute(sql(
                    "SELECT count(*)::int AS n FROM pooler_jobs WHERE worker = {w}", w=w)))
                assert raw.one().n == len(mine)
                ids, n = await t.r(db.batch([
                    db.select(Jobs.id).from_(Jobs).where(own).order_by(Jobs.id),
                    db.insert(Jobs).values({"id": next_id, "worker": w, "label": "batch"}),
                ]))
                assert [r[0] for r in ids] == mine and n == 1
                mine.append(next_id)
                next_id += 1
        except Exception as exc:
            errors.append(f"worker {w}, operation {i} (kind {kind}): "
                          f"{type(exc).__name__}: {exc}")
            if len(errors) > 20:
                return
    counts[w] = len(mine)


def check_rows(direct: str, counts: dict[int, int]) -> None:
    with psycopg.connect(direct) as conn:
        found = dict(conn.execute(  # type: ignore[arg-type]
            "SELECT worker, count(*) FROM pooler_jobs GROUP BY worker").fetchall())
        undone = conn.execute("SELECT count(*) FROM pooler_jobs WHERE label = 'undone'")
        assert undone.fetchone() == (0,)
    assert found == counts


def test_pgbuild_in_pooler_mode_runs_10000_mixed_operations_on_8_threads_without_an_error(
    bounced: tuple[str, str]
) -> None:
    url, direct = bounced
    errors: list[str] = []
    counts: dict[int, int] = {}
    ops = 10_000 // THREADS
    with Database(url, pooler="transaction", min_size=1, max_size=THREADS) as db:
        t = Twin(db, asyncio.new_event_loop(), False)

        def worker(w: int) -> None:
            asyncio.run(workload(t, w, ops, errors, counts))  # sync calls; the loop only drives

        run_threads(worker)
        t.loop.close()
    assert errors == []
    assert sorted(counts) == list(range(THREADS))
    check_rows(direct, counts)
    assert sum(counts.values()) > 5_000
    assert server_prepared_statements(url) == []


def test_async_pgbuild_in_pooler_mode_runs_mixed_operations_on_8_tasks_without_an_error(
    bounced: tuple[str, str]
) -> None:
    url, direct = bounced
    errors: list[str] = []
    counts: dict[int, int] = {}

    async def main() -> None:
        async with AsyncDatabase(url, pooler="transaction", min_size=1, max_size=THREADS) as db:
            t = Twin(db, asyncio.get_running_loop(), True)
            await asyncio.gather(*(workload(t, w, 250, errors, counts) for w in range(THREADS)))

    asyncio.run(main())
    assert errors == []
    check_rows(direct, counts)
    assert server_prepared_statements(url) == []


def test_prepare_options_reach_psycopg(bounced: tuple[str, str]) -> None:
    url, direct = bounced
    with Database(direct, prepare_threshold=0, prepared_max=7) as db, db.pool.connection() as c:
        assert (c.prepare_threshold, c.prepared_max) == (0, 7)
    with Database(url, pooler="transaction", prepare_threshold=0) as db:
        with db.pool.connection() as c:
            assert c.prepare_threshold is None  # the pooler wins
        prepared = db.select(Jobs.id).from_(Jobs).where(eq(Jobs.id, placeholder("id"))).prepare()
        for i in range(10):
            assert prepared.first(id=i) is None
    assert server_prepared_statements(url) == []
    with pytest.raises(PgbuildError, match="pooler"):
        Database(url, pooler="session")  # type: ignore[arg-type]


# ------------------------------------------------------------------ migrations


SCHEMA = '''
from pgbuild import Table, integer, text


class Notes(Table, name="notes"):
    id = integer().primary_key()
    body = text().not_null()
'''


def migrate(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m pgbuild.migrate ...`` in ``project``, with only ``env``'s
    database variables."""
    environ = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "DATABASE_DIRECT_URL")}
    return subprocess.run(
        [sys.executable, "-m", "pgbuild.migrate", *args], cwd=project, env={**environ, **env},
        capture_output=True, text=True, timeout=120, check=False,
    )


def test_migrations_refuse_the_pooler_unless_allowed_and_use_database_direct_url(
    pgbouncer: Bouncer, tmp_path: Path
) -> None:
    if pgbouncer.port != PGBOUNCER_PORT:
        from tests.topology import require

        require(f"port {PGBOUNCER_PORT} is taken, so the test PgBouncer listens on "
                f"{pgbouncer.port}, which migrations cannot recognise as a pooler")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "app"\n\n[tool.pgbuild]\nschema = "schema"\n'
        'migrations = "migrations"\n')
    (tmp_path / "schema.py").write_text(SCHEMA)
    done = migrate(tmp_path, "generate", "--name", "init")
    assert done.returncode == 0, done.stderr

    with fresh_database(pgbouncer.direct_url(), "migrate") as direct:
        pooled = pgbouncer.url(str(conninfo_to_dict(direct)["dbname"]))

        for refused in (migrate(tmp_path, "up", "--url", pooled),
                        migrate(tmp_path, "up", DATABASE_URL=pooled)):
            assert refused.returncode == 1, refused.stdout + refused.stderr
            assert "transaction-mode connection pooler" in refused.stderr
            assert "DATABASE_DIRECT_URL" in refused.stderr
            assert "--allow-pooler" in refused.stderr
        with psycopg.connect(direct) as conn:
            assert conn.execute("SELECT to_regclass('notes')").fetchone() == (None,)

        # the app keeps the pooled URL; migrations take the direct one
        done = migrate(tmp_path, "up", DATABASE_URL=pooled, DATABASE_DIRECT_URL=direct)
        assert (done.returncode, done.stdout) == (0, "applied 0001_init\n"), done.stderr
        with Database(pooled, pooler="transaction") as app:
            from_schema = app.execute(sql("SELECT count(*)::int AS n FROM notes")).one().n
            assert from_schema == 0
            app.execute(sql("INSERT INTO notes VALUES (1, 'through the pooler')"))
            assert app.execute(sql("SELECT body FROM notes")).one().body == "through the pooler"
        status = migrate(tmp_path, "status", DATABASE_URL=pooled, DATABASE_DIRECT_URL=direct)
        assert status.returncode == 0, status.stderr

    with fresh_database(pgbouncer.direct_url(), "migrate") as direct:
        pooled = pgbouncer.url(str(conninfo_to_dict(direct)["dbname"]))
        done = migrate(tmp_path, "up", "--url", pooled, "--allow-pooler")
        assert (done.returncode, done.stdout) == (0, "applied 0001_init\n"), done.stderr
        with psycopg.connect(direct) as conn:
            assert conn.execute("SELECT to_regclass('notes')::text").fetchone() == ("notes",)
