"""Static typing contract for "more select" and "more insert/update", checked
by mypy --strict: distinct on, subqueries and CTEs, lateral joins, set
operations, row locks, table aliases, insert ... select.

Lines that must NOT type-check carry ``# type: ignore[code]`` (an unused
ignore is itself an error under --strict).
"""

from typing import Any, assert_type

from pgbuild import (
    AsyncDatabase,
    Column,
    Compound,
    Database,
    Expr,
    JoinedRow,
    Subquery,
    alias,
    count,
    eq,
    except_,
    exists,
    in_,
    intersect,
    sql,
    union,
    union_all,
)
from pgbuild.queries.base import Async, Sync
from pgbuild.queries.cte import With
from pgbuild.queries.insert import Insert
from pgbuild.queries.select import Select
from pgbuild.queries.update import Update
from schema import AuditLogs, Sessions, Users


def distinct(db: Database) -> None:
    assert_type(db.select_distinct_on(Sessions.user_id).from_(Sessions).all(), list[Sessions])
    assert_type(
        db.select_distinct_on(Sessions.user_id, Sessions.user_id, Sessions.title)
        .from_(Sessions)
        .all(),
        list[tuple[str, str | None]],
    )
    assert_type(
        db.select_distinct_on([Sessions.user_id, Sessions.title], Sessions.id)
        .from_(Sessions)
        .all(),
        list[tuple[str]],
    )


def subqueries(db: Database) -> None:
    recent = db.select(Sessions.user_id).from_(Sessions).as_("recent")
    assert_type(recent, Subquery[tuple[str]])
    assert_type(recent.user_id, Any)
    assert_type(db.select().from_(recent).all(), list[tuple[str]])
    assert_type(in_(Users.id, db.select(Sessions.user_id).from_(Sessions)), Expr[bool])
    assert_type(exists(db.select(sql("1")).from_(Sessions)), Expr[bool])
    assert_type(eq(Users.id, recent.user_id), Expr[bool])
    named = db.select().from_(Users).as_("named")
    assert_type(db.select().from_(named).first(), Users | None)
    assert_type(
        db.select().from_(Users).left_join(recent, eq(Users.id, recent.user_id)).all(),
        list[JoinedRow],
    )


def ctes(db: Database) -> None:
    recent = db.select(Sessions.user_id).from_(Sessions).as_("recent")
    assert_type(db.with_(recent), With[Sync])
    assert_type(db.with_(recent).select().from_(Users).all(), list[Users])
    assert_type(db.with_(recent).select(Users.id).from_(Users).all(), list[tuple[str]])
    assert_type(db.with_(recent).insert(AuditLogs), Insert[AuditLogs, Sync])
    assert_type(db.with_(recent).update(Users).set({"name": "x"}), Update[Users, Sync])
    assert_type(db.with_(recent).delete(Sessions).returning(Sessions.id).all(), list[tuple[str]])
    db.with_(db.select(Users.id).from_(Users))  # type: ignore[arg-type]


def lateral(db: Database) -> None:
    latest = db.select(Sessions.id).from_(Sessions).where(eq(Sessions.user_id, Users.id)).as_("l")
    assert_type(db.select().from_(Users).left_join_lateral(latest).all(), list[JoinedRow])
    assert_type(db.select().from_(Users).inner_join_lateral(latest, sql("true")).all(),
                list[JoinedRow])
    assert_type(db.select(Users.id).from_(Users).cross_join_lateral(latest).all(),
                list[tuple[str]])
    db.select().from_(Users).left_join_lateral(Sessions)  # type: ignore[call-overload]


def set_operations(db: Database) -> None:
    ids = db.select(Users.id).from_(Users)
    owners = db.select(Sessions.user_id).from_(Sessions)
    assert_type(ids.union(owners), Compound[tuple[str], Sync])
    assert_type(ids.union(owners).all(), list[tuple[str]])
    assert_type(ids.union_all(owners).order_by(Users.id).limit(3).offset(1).all(),
                list[tuple[str]])
    assert_type(ids.intersect(owners).except_(owners).first(), tuple[str] | None)
    assert_type(union(ids, owners, ids).all(), list[tuple[str]])
    assert_type(union_all(ids, owners), Compound[tuple[str], Sync])
    assert_type(intersect(ids, owners).one(), tuple[str])
    assert_type(except_(ids, owners).as_("x"), Subquery[tuple[str]])
    assert_type(db.select().from_(Users).union(db.select().from_(Users)).all(), list[Users])
    ids.union(Users)  # type: ignore[arg-type]


def locks(db: Database) -> None:
    q = db.select().from_(Users).where(eq(Users.id, "u1"))
    assert_type(q.for_update(skip_locked=True).first(), Users | None)
    assert_type(q.for_share(nowait=True), Select[Users, Sync])
    assert_type(q.for_("no key update", of=Users).all(), list[Users])
    assert_type(q.for_("key share", of=[Users, alias(Users, "u")]).all(), list[Users])
    q.for_("exclusive")  # type: ignore[arg-type]


def aliases(db: Database) -> None:
    inviter = alias(Users, "inviter")
    assert_type(inviter, type[Users])
    assert_type(inviter.id, Column[str])
    assert_type(inviter.name, Column[str | None])
    assert_type(db.select().from_(inviter).all(), list[Users])
    assert_type(
        db.select(Users.email, inviter.name).from_(Users).all(), list[tuple[str, str | None]]
    )
    assert_type(
        db.select().from_(Users).left_join(inviter, eq(Users.id, inviter.id)).all(),
        list[JoinedRow],
    )


def writes(db: Database) -> None:
    assert_type(
        db.insert(Users).values({"id": "u", "email": "e"}).returning(Users.id, Users.email).all(),
        list[tuple[str, str]],
    )
    assert_type(
        db.insert(AuditLogs).select(db.select(id=Users.id, action=Users.email).from_(Users)),
        Insert[AuditLogs, Sync],
    )
    assert_type(
        db.insert(AuditLogs).select(db.select(Users.id).from_(Users), columns=["id"]).execute(),
        int,
    )
    assert_type(
        db.update(Users).set({"name": Sessions.title}).from_(Sessions).returning().all(),
        list[Users],
    )
    assert_type(db.select(n=count()).from_(Users).union(db.select(n=count()).from_(Sessions)),
                Compound[Any, Sync])


async def async_mode(db: AsyncDatabase) -> None:
    ids = db.select(Users.id).from_(Users)
    compound = ids.union(db.select(Sessions.user_id).from_(Sessions))
    assert_type(compound, Compound[tuple[str], Async])
    assert_type(await compound.all(), list[tuple[str]])
    recent = ids.as_("recent")
    assert_type(db.with_(recent), With[Async])
    assert_type(await db.with_(recent).select().from_(Users).for_update().first(), Users | None)
    assert_type(await db.select_distinct_on(Users.email).from_(Users).all(), list[Users])
