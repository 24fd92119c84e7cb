"""Compile-only cases: build a statement and turn it into SQL text and
parameters, no I/O. There is no raw psycopg contender (hand-written SQL
has nothing to build); ratios are to pgbuild.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from benchmarks import queries as q
from benchmarks.catalog import (
    COMPILE_SPECS,
    PGBUILD,
    PYPIKA,
    SQLALCHEMY,
    build_cases,
)
from benchmarks.harness import Case, sync_contender
from benchmarks.peers import Pika, Sqla

Op = Callable[[int], Any] | None


def compile_cases(db: Any, sqla: Sqla | None, pika: Pika | None) -> list[Case]:
    """``db`` only hands out builders here; nothing runs on it."""
    ids = [f"user_{i:05d}" for i in range(100)]
    now = datetime(2025, 6, 1, tzinfo=UTC)

    def uid(i: int) -> str:
        return ids[i % len(ids)]

    def row(i: int) -> dict[str, Any]:
        return {"id": uid(i), "email": f"{uid(i)}@company.com", "name": f"User {i}"}

    def text(query: Any) -> tuple[str, Any]:
        compiled = query.compile()
        return compiled.as_string(), compiled.params

    ops: dict[str, dict[str, Op]] = {
        "point_select": {
            PGBUILD: lambda i: text(q.pg_point(db, uid(i))),
            SQLALCHEMY: sqla and (lambda i: sqla.compile(sqla.point(uid(i)))),
            PYPIKA: pika and (lambda i: (pika.point(), (uid(i),))),
        },
        "filtered_page": {
            PGBUILD: lambda i: text(q.pg_page(db)),
            SQLALCHEMY: sqla and (lambda i: sqla.compile(sqla.page())),
            PYPIKA: pika and (lambda i: (pika.page(), (q.SINCE, q.DOMAIN))),
        },
        "upsert": {
            PGBUILD: lambda i: text(q.pg_upsert(db, row(i), now)),
            SQLALCHEMY: sqla and (lambda i: sqla.compile(sqla.upsert(row(i), now))),
            PYPIKA: pika and (lambda i: _pika_upsert(pika, row(i), now)),
        },
        "jsonb_set_update": {
            PGBUILD: lambda i: text(q.pg_jsonb_update(db, uid(i))),
            SQLALCHEMY: sqla and (lambda i: sqla.compile(sqla.jsonb_update(uid(i)))),
            PYPIKA: pika and (lambda i: _pika_jsonb(pika, uid(i))),
        },
    }
    return build_cases("compile", COMPILE_SPECS, ops, sync_contender, _no_sql)


def _pika_upsert(pika: Pika, row: dict[str, Any], now: datetime) -> tuple[str, Any]:
    return pika.upsert(), (row["id"], row["email"], row["name"], row["name"], now)


def _pika_jsonb(pika: Pika, uid: str) -> tuple[str, Any]:
    return pika.jsonb_update(), (["preferences", "theme"], Jsonb("dark"), True, uid)


def _no_sql(statement: str) -> Any:  # pragma: no cover - compile cases touch no table
    raise AssertionError("compile-only cases run no SQL")
