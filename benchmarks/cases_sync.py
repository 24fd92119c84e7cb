"""End-to-end cases on ``Database``: pgbuild and psycopg (and PyPika's SQL)
on the same ``psycopg_pool.ConnectionPool`` (``db.pool``), SQLAlchemy on its
own engine of the same size and settings. Each operation borrows a
connection from its pool, as application code does per request."""

from __future__ import annotations

from collections.abc import Callable
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
from benchmarks.harness import Case, sync_contender
from schema import AuditLogs

Op = Callable[[int], Any] | None


def sync_cases(shared: Shared, db: Any, engine: Any | None) -> list[Case]:
    """``engine`` is SQLAlchemy's (None without SQLAlchemy)."""
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

    ops: dict[str, dict[str, Op]] = {}

    # -- point select, ad hoc and prepared

    def raw_point(i: int) -> Any:
        with pool.connection() as conn:
            return conn.execute(q.RAW_POINT, (uid(i),)).fetchone()

    prepared = q.pg_point_prepared(db)
    ops["point_select"] = {
        PGBUILD: lambda i: q.pg_point(db, uid(i)).first(),
        PSYCOPG: raw_point,
        SQLALCHEMY: sqla and (lambda i: _sa_first(engine, sqla.point(uid(i)))),
        PYPIKA: pika and (lambda i: _fetchone(pool, pika.point(), (uid(i),))),
    }

    def raw_point_prepared(i: int) -> Any:
        with pool.connection() as conn:
            return conn.execute(q.RAW_POINT, (uid(i),), prepare=True).fetchone()

    pika_point = pika.point_prepared if pika else ""
    ops["point_select_prepared"] = {
        PGBUILD: lambda i: prepared.first(id=uid(i)),
        PSYCOPG: raw_point_prepared,
        SQLALCHEMY: sqla and (lambda i: _sa_first(engine, sqla.point_prepared, {"id": uid(i)})),
        PYPIKA: pika and (lambda i: _fetchone(pool, pika_point, (uid(i),), prepare=True)),
    }

    # -- filtered page

    def raw_page(i: int) -> Any:
        with pool.connection() as conn:
            return conn.execute(q.RAW_PAGE, (q.SINCE, q.DOMAIN, q.PAGE)).fetchall()

    ops["filtered_page"] = {
        PGBUILD: lambda i: q.pg_page(db).all(),
        PSYCOPG: raw_page,
        SQLALCHEMY: sqla and (lambda i: _sa_all(engine, sqla.page())),
        PYPIKA: pika and (lambda i: _fetchall(pool, pika.page(), (q.SINCE, q.DOMAIN))),
    }

    # -- single insert returning

    def raw_insert(i: int) -> Any:
        row = new_user("raw", i)
        with pool.connection() as conn:
            return conn.execute(q.RAW_INSERT, (row["id"], row["email"], row["name"])).fetchone()

    def pika_insert(i: int) -> Any:
        row = new_user("pika", i)
        return _fetchone(pool, pika.insert(), (row["id"], row["email"], row["name"]))

    ops["insert_returning"] = {
        PGBUILD: lambda i: q.pg_insert(db, new_user("pgb", i)).one(),
        PSYCOPG: raw_insert,
        SQLALCHEMY: sqla and (lambda i: _sa_one(engine, sqla.insert(new_user("sa", i)))),
        PYPIKA: pika and pika_insert,
    }

    # -- bulk insert

    n = shared.bulk_rows
    rows = {tag: audit_rows(tag, n) for tag in ("pgb", "raw", "copy", "pgbcopy", "sa", "pika")}

    def raw_bulk(i: int) -> Any:
        with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(q.RAW_BULK, q.audit_tuples(rows["raw"]))
            return cur.rowcount

    def raw_copy(i: int) -> Any:
        with pool.connection() as conn, conn.cursor() as cur:
            with cur.copy(q.RAW_COPY) as copy:
                for r in rows["copy"]:
                    copy.write_row(
                        (r["id"], r["user_id"], r["action"], r["table_name"], r["record_id"])
                    )
            return cur.rowcount

    def sa_bulk(i: int) -> Any:
        with engine.execution_options(isolation_level="READ COMMITTED").begin() as conn:
            return conn.execute(sqla.bulk, rows["sa"]).rowcount

    def pika_bulk(i: int) -> Any:
        params = [v for t in q.audit_tuples(rows["pika"]) for v in t]
        with pool.connection() as conn:
            return conn.execute(pika.bulk(n), params).rowcount

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

    def now() -> datetime:
        return datetime.now(UTC)

    def raw_upsert(i: int) -> Any:
        row, at = existing(i), now()
        with pool.connection() as conn:
            params = (row["id"], row["email"], row["name"], row["name"], at)
            return conn.execute(q.RAW_UPSERT, params).fetchone()

    def pika_upsert(i: int) -> Any:
        row, at = existing(i), now()
        params = (row["id"], row["email"], row["name"], row["name"], at)
        return _fetchone(pool, pika.upsert(), params)

    ops["upsert"] = {
        PGBUILD: lambda i: q.pg_upsert(db, existing(i), now()).one(),
        PSYCOPG: raw_upsert,
        SQLALCHEMY: sqla and (lambda i: _sa_one(engine, sqla.upsert(existing(i), now()))),
        PYPIKA: pika and pika_upsert,
    }

    def raw_update(i: int) -> Any:
        with pool.connection() as conn:
            return conn.execute(q.RAW_UPDATE, (f"Renamed {i}", now(), uid(i))).fetchall()

    ops["update_returning"] = {
        PGBUILD: lambda i: q.pg_update(db, uid(i), f"Renamed {i}", now()).all(),
        PSYCOPG: raw_update,
        SQLALCHEMY: sqla and (lambda i: _sa_all(engine, sqla.update(uid(i), f"Renamed {i}",
                                                                      now()))),
        PYPIKA: pika and (lambda i: _fetchall(pool, pika.update(),
                                              (f"Renamed {i}", now(), uid(i)))),
    }

    # -- relational: one user, then a page of users

    def raw_one(i: int) -> Any:
        with pool.connection() as conn:
            user = conn.execute(q.RAW_POINT, (uid(i),)).fetchone()
            return user, conn.execute(q.RAW_SESSIONS_OF, (uid(i), q.LATEST)).fetchall()

    def raw_one_json(i: int) -> Any:
        with pool.connection() as conn:
            return conn.execute(q.RAW_TREE_ONE, (q.LATEST, uid(i))).fetchone()

    def sa_one(i: int) -> Any:
        with engine.connect() as conn:
            user = conn.execute(sqla.point(uid(i))).first()
            return user, conn.execute(sqla.sessions_of(uid(i))).all()

    def pika_one(i: int) -> Any:
        with pool.connection() as conn:
            user = conn.execute(pika.point(), (uid(i),)).fetchone()
            sessions = conn.execute(pika.sessions_of(), (uid(i),)).fetchall()
            return user, sessions

    ops["relational_one"] = {
        PGBUILD: lambda i: q.pg_user_with_sessions(db, uid(i)),
        PSYCOPG: raw_one,
        PSYCOPG_JSON: raw_one_json,
        SQLALCHEMY: sqla and sa_one,
        PYPIKA: pika and pika_one,
    }

    def raw_page_n1(i: int) -> Any:
        with pool.connection() as conn:
            users = conn.execute(q.RAW_USERS_PAGE, (q.PAGE,)).fetchall()
            return [
                (u, conn.execute(q.RAW_SESSIONS_OF, (u[0], q.LATEST)).fetchall()) for u in users
            ]

    def raw_page_json(i: int) -> Any:
        with pool.connection() as conn:
            return conn.execute(q.RAW_TREE_PAGE, (q.LATEST, q.PAGE)).fetchall()

    def sa_page_n1(i: int) -> Any:
        with engine.connect() as conn:
            users = conn.execute(sqla.users_page()).all()
            return [(u, conn.execute(sqla.sessions_of(u.id)).all()) for u in users]

    def pika_page_n1(i: int) -> Any:
        with pool.connection() as conn:
            users = conn.execute(pika.users_page()).fetchall()
            return [
                (u, conn.execute(pika.sessions_of(), (u[0],)).fetchall())
                for u in users
            ]

    ops["relational_page"] = {
        PGBUILD: lambda i: q.pg_users_with_sessions(db),
        PSYCOPG: raw_page_n1,
        PSYCOPG_JSON: raw_page_json,
        SQLALCHEMY: sqla and sa_page_n1,
        PYPIKA: pika and pika_page_n1,
    }

    return build_cases("sync", e2e_specs(n), ops, sync_contender, shared.run_sql)


def _fetchone(pool: Any, text: str, params: Any, prepare: bool | None = None) -> Any:
    with pool.connection() as conn:
        return conn.execute(text, params, prepare=prepare).fetchone()


def _fetchall(pool: Any, text: str, params: Any) -> Any:
    with pool.connection() as conn:
        return conn.execute(text, params).fetchall()


def _sa_first(engine: Any, statement: Any, params: Any = None) -> Any:
    with engine.connect() as conn:
        return conn.execute(statement, params).first()


def _sa_one(engine: Any, statement: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(statement).one()


def _sa_all(engine: Any, statement: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(statement).all()
