"""Static typing contract, checked by mypy --strict in tests/test_typing.py.

Lines that must NOT type-check carry ``# type: ignore[code]``: mypy's
``warn_unused_ignores`` (part of --strict) fails the check if such a line
ever starts to type-check, so each ignore is an assertion of an error.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any, assert_type

from pgbuild import (
    AsyncDatabase,
    Column,
    Database,
    Expr,
    JoinedRow,
    avg,
    count,
    desc,
    eq,
    gte,
    in_,
    integer,
    is_null,
    jsonb,
    like,
    max_,
    numeric,
    pg_enum,
    placeholder,
    serial,
    text,
)
from schema import Sessions, UserMetadata, Users

# -- columns: Column[T] on the class, T on a row

assert_type(Users.email, Column[str])
assert_type(Users.name, Column[str | None])
assert_type(Users.id, Column[str])
assert_type(Users.created_at, Column[datetime])
assert_type(Users.deleted_at, Column[datetime | None])
assert_type(Users.metadata, Column[UserMetadata | None])
assert_type(text().not_null(), Column[str])
assert_type(text().primary_key().not_null(), Column[str])
assert_type(integer().array(), Column[list[int] | None])
assert_type(serial(), Column[int])
assert_type(numeric(10, 2), Column[Decimal | None])
assert_type(jsonb(), Column[Any])
mood = pg_enum("mood", ["sad", "ok"])
assert_type(mood(), Column[str | None])


def rows(db: Database, user: Users) -> None:
    assert_type(user.email, str)
    assert_type(user.name, str | None)
    assert_type(user.created_at, datetime)

    # -- select shapes
    assert_type(db.select().from_(Users).all(), list[Users])
    assert_type(db.select().from_(Users).first(), Users | None)
    assert_type(db.select().from_(Users).where(eq(Users.id, "u1")).one(), Users)
    assert_type(
        db.select(Users.id, Users.created_at).from_(Users).all(), list[tuple[str, datetime]]
    )
    assert_type(db.select(Users.name).from_(Users).all(), list[tuple[str | None]])
    assert_type(
        db.select().from_(Users).left_join(Sessions, eq(Users.id, Sessions.user_id)).all(),
        list[JoinedRow],
    )
    assert_type(db.count(Users), int)

    # -- insert/update/delete returning
    assert_type(db.insert(Users).values({"id": "u", "email": "e"}).returning().one(), Users)
    assert_type(
        db.insert(Users).values({"id": "u", "email": "e"}).returning(Users.id).all(),
        list[tuple[str]],
    )
    assert_type(db.update(Users).set({"name": "n"}).returning().all(), list[Users])
    assert_type(
        db.delete(Users).returning(Users.id, Users.name).all(), list[tuple[str, str | None]]
    )
    assert_type(db.insert(Users).values({"id": "u", "email": "e"}).execute(), int)

    # -- expressions
    assert_type(count(), Expr[int])
    assert_type(max_(Users.created_at), Expr[datetime | None])
    eq(Users.name, "x")
    eq(Users.name, None)
    eq(Users.id, Sessions.user_id)
    eq(Sessions.user_id, Users.id)
    eq(Users.name, Sessions.user_id)  # nullable vs non-null column of the same type
    eq(Sessions.user_id, Users.name)
    gte(Users.created_at, datetime(2024, 1, 1))
    like(Users.email, "%@company.com")
    like(Users.name, "%x")
    in_(Users.id, ["a", "b"])
    is_null(Users.deleted_at)
    desc(Users.created_at)
    avg(Users.id)

    # -- what must not type-check
    eq(Users.id, 5)  # type: ignore[misc]
    gte(Users.created_at, "yesterday")  # type: ignore[misc]
    like(Users.created_at, "%")  # type: ignore[arg-type]
    in_(Users.id, [1, 2])  # type: ignore[misc]
    print(user.nonexistent)  # type: ignore[attr-defined]
    print(Users.nonexistent)  # type: ignore[attr-defined]


async def async_rows(adb: AsyncDatabase) -> None:
    # The same builders; terminal methods are awaitable on an AsyncDatabase.
    assert_type(await adb.select().from_(Users).all(), list[Users])
    assert_type(await adb.select().from_(Users).first(), Users | None)
    assert_type(await adb.select(Users.id).from_(Users).one(), tuple[str])
    assert_type(await adb.insert(Users).values({"id": "u", "email": "e"}).execute(), int)
    assert_type(await adb.count(Users), int)
    prepared = adb.select().from_(Users).where(eq(Users.id, placeholder("id"))).prepare()
    assert_type(await prepared.first(id="u1"), Users | None)
    async with adb.transaction() as tx:
        assert_type(await tx.update(Users).set({"name": "n"}).returning().all(), list[Users])
    print(len(adb.select().from_(Users).all()))  # type: ignore[arg-type]  # a coroutine


def sync_prepared(db: Database) -> None:
    prepared = db.select(Users.email).from_(Users).where(eq(Users.id, placeholder("id"))).prepare()
    assert_type(prepared.all(id="u1"), list[tuple[str]])
