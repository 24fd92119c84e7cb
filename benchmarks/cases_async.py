"""End-to-end cases on ``AsyncDatabase``, the twin of :mod:`benchmarks.cases_sync`:
pgbuild and psycopg on the same ``psycopg_pool.AsyncConnectionPool``
(``db.pool``), SQLAlchemy on its own asyncio engine (when its asyncio
support, greenlet, is installed). Operations are awaited one after another
on one event loop: this measures per-operation overhead, not concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from benchmarks import queries as q
from benchmarks.catalog import (
    PGBUILD,
    PGBUILD_COPY,
    PSYCOPG,
    PSYCOPG_COPY,
    PSYCOPG_JSON,
    PYPIKA,
    SQLALCHEMY,
    Shared,
    build_cases,
    e2e_specs,
)
from benchmarks.dataset import audit_rows
from benchmarks.harness import Case, Contender, async_contender
from schema import AuditLogs

AOp = Callable[[int], Awaitable[Any]] | None


def async_cases(
    shared: Shared, db: Any, engine: Any | None, loop: asyncio.AbstractEventLoop
) -> list[Case]:
    """``db`` is an open AsyncDatabase; ``engine`` SQLAlchemy's async engine or None."""
    pool = db.pool
    data = shared.data
    ids, emails = data.user_ids, data.emails
    sqla = shared.sqla if engine is not None else None
    pika = shared.pika

    def uid(i: int) -> str:
        return ids[data.pick(i)]

    def new_user(tag: str, i: int) -> dict[str, Any]:
        return {"id": f"ins-{tag}-{i}", "email": f"ins-{tag}-{i}@bench.test",
                "name": f"Inserted {i}"}

    def existing(i: int) -> dict[str, Any]:
        k = data.pick(i)
        return {"id": ids[k], "email": emails[k], "name": f"Upserted {i}"}

    def now() -> datetime:
        return datetime.now(UTC)

    async def fetchone(text: str, params: Any, prepare: bool | None = None) -> Any:
        async with pool.connection() as conn:
            cur = await conn.execute(text, params, prepare=prepare)
            return await cur.fetchone()

    async def fetchall(text: str, params: Any) -> Any:
        async with pool.connection() as conn:
            cur = await conn.execute(text, params)
            return await cur.fetchall()

    async def sa_first(statement: Any, params: Any = None) -> Any:
        async with engine.connect() as conn:
            return (await conn.execute(statement, params)).first()

    async def sa_one(statement: Any) -> Any:
        async with engine.connect() as conn:
            return (await conn.execute(statement)).one()

    async def sa_all(statement: Any) -> Any:
        async with engine.connect() as conn:
            return (await conn.execute(statement)).all()

    ops: dict[str, dict[str, AOp]] = {}

    # -- point select, ad hoc and prepared

    async def raw_point(i: int) -> Any:
        async with pool.connection() as conn:
            cur = await conn.execute(q.RAW_POINT, (uid(i),))
            return await cur.fetchone()

    async def pgb_point(i: int) -> Any:
        return await q.pg_point(db, uid(i)).first()

    ops["point_select"] = {
        PGBUILD: pgb_point,
        PSYCOPG: raw_point,
        SQLALCHEMY: sqla and (lambda i: sa_first(sqla.point(uid(i)))),
        PYPIKA: pika and (lambda i: fetchone(pika.point(), (uid(i),))),
    }

    prepared = q.pg_point_prepared(db)

    async def raw_point_prepared(i: int) -> Any:
        async with pool.connection() as conn:
            cur = await conn.execute(q.RAW_POINT, (uid(i),), prepare=True)
            return await cur.fetchone()

    pika_point = pika.point_prepared if pika else ""
    ops["point_select_prepared"] = {
        PGBUILD: lambda i: prepared.first(id=uid(i)),
        PSYCOPG: raw_point_prepared,
        SQLALCHEMY: sqla and (lambda i: sa_first(sqla.point_prepared, {"id": uid(i)})),
        PYPIKA: pika and (lambda i: fetchone(pika_point, (uid(i),), prepare=True)),
    }

    # -- filtered page

    async def raw_page(i: int) -> Any:
        async with pool.connection() as conn:
            cur = await conn.execute(q.RAW_PAGE, (q.SINCE, q.DOMAIN, q.PAGE))
            return await cur.fetchall()

    ops["filtered_page"] = {
        PGBUILD: lambda i: q.pg_page(db).all(),
        PSYCOPG: raw_page,
        SQLALCHEMY: sqla and (lambda i: sa_all(sqla.page())),
        PYPIKA: pika and (lambda i: fetchall(pika.page(), (q.SINCE, q.DOMAIN))),
    }

    # -- single insert returning

    async def raw_insert(i: int) -> Any:
        row = new_user("raw", i)
        async with pool.connection() as conn:
            cur = await conn.execute(q.RAW_INSERT, (row["id"], row["email"], row["name"]))
            return await cur.fetchone()

    def pika_insert(i: int) -> Any:
        row = new_user("pika", i)
        return fetchone(pika.insert(), (row["id"], row["email"], row["name"]))

    ops["insert_returning"] = {
        PGBUILD: lambda i: q.pg_insert(db, new_user("pgb", i)).one(),
        PSYCOPG: raw_insert,
        SQLALCHEMY: sqla and (lambda i: sa_one(sqla.insert(new_user("sa", i)))),
        PYPIKA: pika and pika_insert,
    }

    # -- bulk insert

    n = shared.bulk_rows
    rows = {tag: audit_rows(tag, n) for tag in ("pgb", "raw", "copy", "pgbcopy", "sa", "pika")}

    async def raw_bulk(i: int) -> Any:
        async with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            await cur.executemany(q.RAW_BULK, q.audit_tuples(rows["raw"]))
            return cur.rowcount

    async def raw_copy(i: int) -> Any:
        async with pool.connection() as conn, conn.cursor() as cur:
            async with cur.copy(q.RAW_COPY) as copy:
                for r in rows["copy"]:
                    await copy.write_row(
                        (r["id"], r["user_id"], r["action"], r["table_name"], r["record_id"])
                    )
            return cur.rowcount

    async def sa_bulk(i: int) -> Any:
        async with engine.execution_options(isolation_level="READ COMMITTED").begin() as conn:
            return (await conn.execute(sqla.bulk, rows["sa"])).rowcount

    async def pika_bulk(i: int) -> Any:
        params = [v for t in q.audit_tuples(rows["pika"]) for v in t]
        async with pool.connection() as conn:
            return (await conn.execute(pika.bulk(n), params)).rowcount

    copy_into = getattr(db, "copy_into", None)
    ops["bulk_insert"] = {
        PGBUILD: lambda i: q.pg_bulk(db, rows["pgb"]).execute(),
        PSYCOPG: raw_bulk,
        PSYCOPG_COPY: raw_copy,
        PGBUILD_COPY: copy_into and (lambda i: copy_into(AuditLogs, rows["pgbcopy"])),
        SQLALCHEMY: sqla and sa_bulk,
        PYPIKA: pika and pika_bulk,
    }

    # -- upsert, update

    async def raw_upsert(i: int) -> Any:
        row, at = existing(i), now()
        async with pool.connection() as conn:
            params = (row["id"], row["email"], row["name"], row["name"], at)
            cur = await conn.execute(q.RAW_UPSERT, params)
            return await cur.fetchone()

    def pika_upsert(i: int) -> Any:
        row, at = existing(i), now()
        return fetchone(pika.upsert(), (row["id"], row["email"], row["name"], row["name"], at))

    ops["upsert"] = {
        PGBUILD: lambda i: q.pg_upsert(db, existing(i), now()).one(),
        PSYCOPG: raw_upsert,
        SQLALCHEMY: sqla and (lambda i: sa_one(sqla.upsert(existing(i), now()))),
        PYPIKA: pika and pika_upsert,
    }

    async def raw_update(i: int) -> Any:
        async with pool.connection() as conn:
            cur = await conn.execute(q.RAW_UPDATE, (f"Renamed {i}", now(), uid(i)))
            return await cur.fetchall()

    ops["update_returning"] = {
        PGBUILD: lambda i: q.pg_update(db, uid(i), f"Renamed {i}", now()).all(),
        PSYCOPG: raw_update,
        SQLALCHEMY: sqla and (lambda i: sa_all(sqla.update(uid(i), f"Renamed {i}", now()))),
        PYPIKA: pika and (lambda i: fetchall(pika.update(), (f"Renamed {i}", now(), uid(i)))),
    }

    # -- relational: one user, then a page of users

    async def raw_one(i: int) -> Any:
        async with pool.connection() as conn:
            user = await (await conn.execute(q.RAW_POINT, (uid(i),))).fetchone()
            cur = await conn.execute(q.RAW_SESSIONS_OF, (uid(i), q.LATEST))
            return user, await cur.fetchall()

    async def raw_one_json(i: int) -> Any:
        async with pool.connection() as conn:
            cur = await conn.execute(q.RAW_TREE_ONE, (q.LATEST, uid(i)))
            return await cur.fetchone()

    async def sa_one_tree(i: int) -> Any:
        async with engine.connect() as conn:
            user = (await conn.execute(sqla.point(uid(i)))).first()
            return user, (await conn.execute(sqla.sessions_of(uid(i)))).all()

    async def pika_one(i: int) -> Any:
        async with pool.connection() as conn:
            user = await (await conn.execute(pika.point(), (uid(i),))).fetchone()
            cur = await conn.execute(pika.sessions_of(), (uid(i),))
            return user, await cur.fetchall()

    ops["relational_one"] = {
        PGBUILD: lambda i: q.pg_user_with_sessions(db, uid(i)),
        PSYCOPG: raw_one,
        PSYCOPG_JSON: raw_one_json,
        SQLALCHEMY: sqla and sa_one_tree,
        PYPIKA: pika and pika_one,
    }

    async def raw_page_n1(i: int) -> Any:
        async with pool.connection() as conn:
            users = await (await conn.execute(q.RAW_USERS_PAGE, (q.PAGE,))).fetchall()
            out = []
            for u in users:
                cur = await conn.execute(q.RAW_SESSIONS_OF, (u[0], q.LATEST))
                out.append((u, await cur.fetchall()))
            return out

    async def raw_page_json(i: int) -> Any:
        async with pool.connection() as conn:
            cur = await conn.execute(q.RAW_TREE_PAGE, (q.LATEST, q.PAGE))
            return await cur.fetchall()

    async def sa_page_n1(i: int) -> Any:
        async with engine.connect() as conn:
            users = (await conn.execute(sqla.users_page())).all()
            out = []
            for u in users:
                out.append((u, (await conn.execute(sqla.sessions_of(u.id))).all()))
            return out

    async def pika_page_n1(i: int) -> Any:
        async with pool.connection() as conn:
            users = await (await conn.execute(pika.users_page())).fetchall()
            out = []
            for u in users:
                cur = await conn.execute(pika.sessions_of(), (u[0],))
                out.append((u, await cur.fetchall()))
            return out

    ops["relational_page"] = {
        PGBUILD: lambda i: q.pg_users_with_sessions(db),
        PSYCOPG: raw_page_n1,
        PSYCOPG_JSON: raw_page_json,
        SQLALCHEMY: sqla and sa_page_n1,
        PYPIKA: pika and pika_page_n1,
    }

    def make(name: str, op: Any, canon: Any) -> Contender:
        return async_contender(name, op, loop, canon)

    return build_cases("async", e2e_specs(n), ops, make, shared.run_sql)
