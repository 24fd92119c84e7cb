"""The same behaviours on ``Database`` and ``AsyncDatabase``.

Each test body is written once and runs on both executors (the ``twin``
fixture is parametrized): builders are shared, only the I/O differs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pgbuild import (
    Database,
    NoResultError,
    QueryError,
    TransactionRollback,
    count,
    desc,
    eq,
    placeholder,
    sql,
)
from schema import TABLES, Prompts, Sessions, Users
from tests.conftest import Twin

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module", autouse=True)
def tables(db: Database) -> Iterator[None]:
    db.create_tables(*TABLES)
    yield


@pytest.fixture(autouse=True)
def empty(db: Database) -> None:
    db.execute(sql("TRUNCATE claude_code_users, claude_code_sessions, claude_code_prompts CASCADE"))


def user(i: int) -> dict[str, Any]:
    return {"id": f"u{i}", "email": f"u{i}@example.com", "name": f"User {i}"}


def test_insert_returning_and_select_first(twin: Twin, db: Database) -> None:
    async def body(t: Twin) -> None:
        inserted = await t.r(t.db.insert(Users).values(user(1)).returning().one())
        found = await t.r(t.db.select().from_(Users).where(eq(Users.id, "u1")).first())
        missing = await t.r(t.db.select().from_(Users).where(eq(Users.id, "nope")).first())
        assert isinstance(inserted, Users) and found == inserted and missing is None

    twin.run(body)
    assert db.count(Users) == 1


def test_all_one_scalar_count_and_execute(twin: Twin) -> None:
    async def body(t: Twin) -> None:
        assert await t.r(t.db.insert(Users).values([user(1), user(2)]).execute()) == 2
        ids = await t.r(t.db.select(Users.id).from_(Users).order_by(desc(Users.id)).all())
        assert ids == [("u2",), ("u1",)]
        assert await t.r(t.db.select(n=count()).from_(Users).one()) is not None
        assert await t.r(t.db.select(count()).from_(Users).scalar()) == 2
        assert await t.r(t.db.count(Users, eq(Users.id, "u1"))) == 1
        result = await t.r(t.db.execute(sql("SELECT {x}::int + 1 AS y", x=41)))
        assert result.one().y == 42
        with pytest.raises(NoResultError):
            await t.r(t.db.select().from_(Users).where(eq(Users.id, "nope")).one())

    twin.run(body)


def test_update_and_delete_returning(twin: Twin, db: Database) -> None:
    async def body(t: Twin) -> None:
        await t.r(t.db.insert(Users).values([user(1), user(2)]).execute())
        renamed = await t.r(
            t.db.update(Users).set({"name": "Ann"}).where(eq(Users.id, "u1")).returning().all()
        )
        assert [u.name for u in renamed] == ["Ann"]
        gone = await t.r(t.db.delete(Users).where(eq(Users.id, "u2")).returning(Users.id).all())
        assert gone == [("u2",)]

    twin.run(body)
    assert db.select(Users.id, Users.name).from_(Users).all() == [("u1", "Ann")]


def test_transaction_commits_user_session_and_prompt(twin: Twin, db: Database) -> None:
    async def body(t: Twin) -> None:
        async with t.transaction(t.db) as tx:
            await t.r(tx.insert(Users).values(user(1)).execute())
            await t.r(tx.insert(Sessions).values({"id": "s1", "user_id": "u1"}).execute())
            prompt = {"id": "p1", "session_id": "s1", "user_id": "u1"}
            await t.r(tx.insert(Prompts).values(prompt).execute())

    twin.run(body)
    assert (db.count(Users), db.count(Sessions), db.count(Prompts)) == (1, 1, 1)


def test_exception_rolls_the_transaction_back(twin: Twin, db: Database) -> None:
    async def body(t: Twin) -> None:
        with pytest.raises(RuntimeError, match="boom"):
            async with t.transaction(t.db) as tx:
                await t.r(tx.insert(Users).values(user(1)).execute())
                raise RuntimeError("boom")

    twin.run(body)
    assert db.count(Users) == 0


def test_tx_rollback_raises_transaction_rollback_and_writes_nothing(
    twin: Twin, db: Database
) -> None:
    async def body(t: Twin) -> None:
        with pytest.raises(TransactionRollback):
            async with t.transaction(t.db) as tx:
                await t.r(tx.insert(Users).values(user(1)).execute())
                await t.r(tx.rollback())

    twin.run(body)
    assert db.count(Users) == 0


def test_savepoint_rolls_back_alone(twin: Twin, db: Database) -> None:
    async def body(t: Twin) -> None:
        async with t.transaction(t.db, isolation_level="serializable") as tx:
            level = await t.r(tx.execute(sql("SHOW transaction_isolation")))
            assert level.scalar() == "serializable"
            await t.r(tx.insert(Users).values(user(1)).execute())
            with pytest.raises(TransactionRollback):
                async with t.transaction(tx) as inner:
                    await t.r(inner.insert(Users).values(user(2)).execute())
                    await t.r(inner.rollback())
            await t.r(tx.insert(Users).values(user(3)).execute())

    twin.run(body)
    assert db.select(Users.id).from_(Users).order_by(Users.id).all() == [("u1",), ("u3",)]


def test_using_a_transaction_after_its_block_is_an_error(twin: Twin) -> None:
    async def body(t: Twin) -> None:
        async with t.transaction(t.db) as tx:
            pass
        with pytest.raises(QueryError):
            await t.r(tx.select().from_(Users).all())

    twin.run(body)


def test_prepared_query_runs_with_placeholder_values(twin: Twin) -> None:
    async def body(t: Twin) -> None:
        await t.r(t.db.insert(Users).values([user(1), user(2)]).execute())
        by_id = t.db.select().from_(Users).where(eq(Users.id, placeholder("id"))).prepare()
        first = await t.r(by_id.first(id="u1"))
        second = await t.r(by_id.first(id="u2"))
        assert (first.email, second.email) == ("u1@example.com", "u2@example.com")
        with pytest.raises(QueryError, match="missing placeholder values"):
            await t.r(by_id.first())

    twin.run(body)


def test_timestamps_come_back_as_aware_datetimes(twin: Twin) -> None:
    async def body(t: Twin) -> None:
        row = {**user(1), "last_login_at": NOW - timedelta(days=1)}
        back = await t.r(t.db.insert(Users).values(row).returning().one())
        assert back.last_login_at == NOW - timedelta(days=1)
        assert back.created_at.tzinfo is not None

    twin.run(body)
