"""Transactions and savepoints (API.md §3 "transactions", §8 "Transactions").

``db.transaction()`` commits when its block ends and rolls back when an
exception leaves it; ``tx.transaction()`` is a savepoint; ``tx.rollback()``
raises :class:`pgbuild.TransactionRollback` out of its block. What was
committed is checked from outside the transaction, over a plain psycopg
connection (``peek``), independently of pgbuild.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import pgbuild

# The guide's tables live in the repository's top-level ``schema`` package,
# which is not installed; make it importable however pytest is started.
from pgbuild import Database, DatabaseError, IntegrityError, QueryError, eq, sql
from schema import Prompts, Sessions, Users
from tests import guide_fixtures

# The guide's tables, emptied before each test, and a plain psycopg view of them.
guide_tables = guide_fixtures.guide_tables
empty_tables = guide_fixtures.empty_tables
raw = guide_fixtures.raw
peek = guide_fixtures.peek

ANN = {"id": "user_1", "email": "ann@example.com", "name": "Ann"}
BOB = {"id": "user_2", "email": "bob@example.com", "name": "Bob"}
CID = {"id": "user_3", "email": "cid@example.com", "name": "Cid"}


class Boom(Exception):
    """An application error raised inside a transaction block."""


# -- fixtures




@pytest.fixture
def single(database_url: str) -> Iterator[Database]:
    """A Database whose pool has exactly one connection, so every statement
    and transaction reuses the connection the previous one returned."""
    database = Database(database_url, min_size=1, max_size=1, timeout=5)
    try:
        yield database
    finally:
        database.close()


def user_ids(peek: Any) -> list[str]:
    return [r["id"] for r in peek("SELECT id FROM claude_code_users ORDER BY id")]


# -- commit and rollback


def test_transaction_commits_when_the_block_ends(db: Database, peek: Any) -> None:
    with db.transaction() as tx:
        user = tx.insert(Users).values(ANN).returning().one()

    assert user.id == "user_1"
    assert user_ids(peek) == ["user_1"]
    assert db.select().from_(Users).where(eq(Users.id, "user_1")).one().name == "Ann"


def test_transaction_rolls_back_when_an_exception_leaves_the_block(
    db: Database, peek: Any
) -> None:
    with pytest.raises(Boom), db.transaction() as tx:
        tx.insert(Users).values(ANN).execute()
        tx.insert(Users).values(BOB).execute()
        raise Boom

    assert user_ids(peek) == []
    assert db.count(Users) == 0


def test_rollback_raises_transaction_rollback_and_writes_nothing(
    db: Database, peek: Any
) -> None:
    reached_after_rollback = False

    with pytest.raises(pgbuild.TransactionRollback) as info, db.transaction() as tx:
        tx.insert(Users).values(ANN).execute()
        tx.rollback()
        reached_after_rollback = True

    assert not reached_after_rollback
    assert not isinstance(info.value, psycopg.Error)
    assert isinstance(info.value, pgbuild.PgbuildError)
    assert user_ids(peek) == []


def test_user_session_and_prompt_commit_together(db: Database, peek: Any) -> None:
    with db.transaction() as tx:
        user = tx.insert(Users).values(ANN).returning().one()
        session = (
            tx.insert(Sessions)
            .values({"id": "s1", "user_id": user.id, "title": "hello"})
            .returning()
            .one()
        )
        prompt = (
            tx.insert(Prompts)
            .values({"id": "p1", "session_id": session.id, "user_id": user.id, "content": "hi"})
            .returning()
            .one()
        )

    assert (session.user_id, prompt.session_id, prompt.user_id) == ("user_1", "s1", "user_1")
    assert user_ids(peek) == ["user_1"]
    assert peek("SELECT id, user_id FROM claude_code_sessions") == [
        {"id": "s1", "user_id": "user_1"}
    ]
    assert peek("SELECT id, session_id, content FROM claude_code_prompts") == [
        {"id": "p1", "session_id": "s1", "content": "hi"}
    ]


# -- savepoints


def test_exception_in_a_savepoint_rolls_back_only_the_savepoint(
    db: Database, peek: Any
) -> None:
    with db.transaction() as tx:
        tx.insert(Users).values(ANN).execute()
        try:
            with tx.transaction() as inner:
                inner.insert(Users).values(BOB).execute()
                raise Boom
        except Boom:
            pass
        tx.insert(Users).values(CID).execute()

    assert user_ids(peek) == ["user_1", "user_3"]


def test_inner_rollback_undoes_only_the_savepoint_and_the_outer_commits(
    db: Database, peek: Any
) -> None:
    with db.transaction() as tx:
        tx.insert(Users).values(ANN).execute()
        with pytest.raises(pgbuild.TransactionRollback), tx.transaction() as inner:
            inner.insert(Users).values(BOB).execute()
            inner.rollback()
        seen_inside = [u.id for u in tx.select().from_(Users).order_by(Users.id).all()]
        tx.insert(Users).values(CID).execute()

    assert seen_inside == ["user_1"]
    assert user_ids(peek) == ["user_1", "user_3"]


def test_released_savepoint_commits_with_the_outer_transaction(
    db: Database, peek: Any
) -> None:
    with db.transaction() as tx:
        tx.insert(Users).values(ANN).execute()
        with tx.transaction() as inner:
            inner.insert(Users).values(BOB).execute()

    assert user_ids(peek) == ["user_1", "user_2"]


def test_uncaught_exception_in_a_savepoint_rolls_back_the_outer_transaction(
    db: Database, peek: Any
) -> None:
    with pytest.raises(Boom), db.transaction() as tx:
        tx.insert(Users).values(ANN).execute()
        with tx.transaction() as inner:
            inner.insert(Users).values(BOB).execute()
            raise Boom

    assert user_ids(peek) == []


def test_uncaught_inner_rollback_rolls_back_the_outer_transaction(
    db: Database, peek: Any
) -> None:
    with pytest.raises(pgbuild.TransactionRollback), db.transaction() as tx:
        tx.insert(Users).values(ANN).execute()
        with tx.transaction() as inner:
            inner.insert(Users).values(BOB).execute()
            inner.rollback()

    assert user_ids(peek) == []


def test_failed_statement_in_a_savepoint_leaves_the_outer_transaction_usable(
    db: Database, peek: Any
) -> None:
    with db.transaction() as tx:
        tx.insert(Users).values(ANN).execute()
        with pytest.raises(IntegrityError), tx.transaction() as inner:
            inner.insert(Users).values({**BOB, "email": ANN["email"]}).execute()
        tx.insert(Users).values(CID).execute()

    assert user_ids(peek) == ["user_1", "user_3"]


# -- options


@pytest.mark.parametrize("level", ["serializable", "repeatable read", "read committed"])
def test_isolation_level_applies_to_the_transaction(db: Database, level: str) -> None:
    with db.transaction(isolation_level=level) as tx:  # type: ignore[arg-type]
        shown = tx.execute(sql("SHOW transaction_isolation")).scalar()

    assert shown == level


def test_read_only_transaction_refuses_writes(db: Database, peek: Any) -> None:
    with pytest.raises(DatabaseError) as info, db.transaction(read_only=True) as tx:
        assert tx.execute(sql("SHOW transaction_read_only")).scalar() == "on"
        tx.insert(Users).values(ANN).execute()

    assert info.value.sqlstate == "25006"  # read_only_sql_transaction
    assert not isinstance(info.value, IntegrityError)
    assert isinstance(info.value.__cause__, psycopg.errors.ReadOnlySqlTransaction)
    assert user_ids(peek) == []


def test_unknown_isolation_level_is_a_query_error(db: Database, peek: Any) -> None:
    with pytest.raises(QueryError), db.transaction(isolation_level="chaos") as tx:  # type: ignore[arg-type]
        tx.insert(Users).values(ANN).execute()

    assert user_ids(peek) == []


def test_transaction_options_do_not_leak_into_the_next_transaction(single: Database) -> None:
    with single.transaction(isolation_level="serializable", read_only=True) as tx:
        pid = tx.execute(sql("SELECT pg_backend_pid()")).scalar()

    with single.transaction() as tx:
        same_pid = tx.execute(sql("SELECT pg_backend_pid()")).scalar()
        level = tx.execute(sql("SHOW transaction_isolation")).scalar()
        read_only = tx.execute(sql("SHOW transaction_read_only")).scalar()

    assert same_pid == pid  # the pool really reused the connection
    assert (level, read_only) == ("read committed", "off")


# -- misuse and errors


def test_using_tx_after_its_block_is_a_query_error(db: Database, peek: Any) -> None:
    with db.transaction() as tx:
        pass

    with pytest.raises(QueryError):
        tx.insert(Users).values(ANN).execute()
    assert user_ids(peek) == []


def test_opening_a_savepoint_after_the_block_is_a_query_error(db: Database) -> None:
    with db.transaction() as tx:
        pass

    with pytest.raises(QueryError), tx.transaction():
        pass


def test_unique_violation_is_an_integrity_error_naming_the_constraint(db: Database) -> None:
    with pytest.raises(IntegrityError) as info, db.transaction() as tx:
        tx.insert(Users).values(ANN).execute()
        tx.insert(Users).values({**BOB, "email": ANN["email"]}).execute()

    error = info.value
    assert error.constraint == "claude_code_users_email_key"
    assert error.sqlstate == "23505"
    assert isinstance(error.__cause__, psycopg.Error)
    assert error.__cause__.sqlstate == "23505"


def test_failed_statement_rolls_back_the_whole_transaction(db: Database, peek: Any) -> None:
    with pytest.raises(IntegrityError), db.transaction() as tx:
        tx.insert(Users).values(ANN).execute()
        tx.insert(Users).values(CID).execute()
        tx.insert(Users).values({**BOB, "email": ANN["email"]}).execute()

    assert user_ids(peek) == []


def test_connection_is_clean_after_a_failed_transaction(single: Database, peek: Any) -> None:
    with pytest.raises(IntegrityError), single.transaction() as tx:
        tx.insert(Users).values(ANN).execute()
        tx.insert(Users).values({**BOB, "email": ANN["email"]}).execute()

    single.insert(Users).values(CID).execute()  # same connection: not left aborted

    assert user_ids(peek) == ["user_3"]


def test_connection_is_clean_after_tx_rollback(single: Database, peek: Any) -> None:
    with pytest.raises(pgbuild.TransactionRollback), single.transaction() as tx:
        tx.insert(Users).values(ANN).execute()
        tx.rollback()

    with single.transaction() as tx:
        tx.insert(Users).values(BOB).execute()

    assert user_ids(peek) == ["user_2"]


# -- what a transaction sees


def test_cascade_delete_inside_a_transaction(db: Database, peek: Any) -> None:
    db.insert(Users).values([ANN, BOB]).execute()
    db.insert(Sessions).values(
        [{"id": "s1", "user_id": "user_1"}, {"id": "s2", "user_id": "user_2"}]
    ).execute()
    db.insert(Prompts).values({"id": "p1", "session_id": "s1", "user_id": "user_1"}).execute()

    with db.transaction() as tx:
        deleted = tx.delete(Users).where(eq(Users.id, "user_1")).execute()
        sessions_inside = tx.count(Sessions)
        sessions_outside = db.count(Sessions)

    assert deleted == 1
    assert (sessions_inside, sessions_outside) == (1, 2)
    assert user_ids(peek) == ["user_2"]
    assert peek("SELECT id FROM claude_code_sessions") == [{"id": "s2"}]
    assert peek("SELECT id FROM claude_code_prompts") == []


def test_transaction_runs_every_statement_on_one_connection(db: Database) -> None:
    with db.transaction() as tx:
        pids = [tx.execute(sql("SELECT pg_backend_pid()")).scalar() for _ in range(5)]

    assert len(set(pids)) == 1


def test_temp_table_created_in_a_transaction_is_visible_to_its_later_statements(
    db: Database,
) -> None:
    with db.transaction() as tx:
        tx.execute(sql("CREATE TEMP TABLE scratch (n int) ON COMMIT DROP"))
        tx.execute(sql("INSERT INTO scratch VALUES ({a}), ({b})", a=1, b=2))
        total = tx.execute(sql("SELECT sum(n)::int AS total FROM scratch")).one().total

    assert total == 3


def test_uncommitted_row_is_invisible_outside_until_commit(db: Database, peek: Any) -> None:
    with db.transaction() as tx:
        tx.insert(Users).values(ANN).execute()
        seen_by_tx = tx.count(Users)
        seen_by_db = db.count(Users)
        seen_by_peek = user_ids(peek)

    assert (seen_by_tx, seen_by_db, seen_by_peek) == (1, 0, [])
    assert db.count(Users) == 1


def test_concurrent_insert_of_the_same_key_waits_for_the_first_transaction(
    db: Database, peek: Any
) -> None:
    inserted = threading.Event()
    results: dict[str, Any] = {}

    def second_writer() -> None:
        inserted.wait(5)
        try:
            results["count"] = (
                db.insert(Users)
                .values({**BOB, "email": ANN["email"]})
                .on_conflict_do_nothing()
                .execute()
            )
        except Exception as exc:  # reported below, not swallowed
            results["error"] = exc

    worker = threading.Thread(target=second_writer)
    worker.start()
    with db.transaction() as tx:
        tx.insert(Users).values(ANN).execute()
        inserted.set()
        worker.join(0.3)
        still_waiting = worker.is_alive()  # blocked on the uncommitted unique key
    worker.join(5)

    assert still_waiting
    assert results == {"count": 0}
    assert user_ids(peek) == ["user_1"]
