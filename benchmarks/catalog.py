"""The cases: names, what each contender runs, how results are checked.

The sync and async modules supply only the operations; everything that
says *what* is compared lives here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks import queries as q
from benchmarks.dataset import Dataset
from benchmarks.harness import Case, Contender
from benchmarks.peers import Pika, Sqla

PGBUILD = "pgbuild"
PSYCOPG = "psycopg"
SQLALCHEMY = "sqlalchemy"
PYPIKA = "pypika"
PGBUILD_COPY = "pgbuild_copy_into"
PSYCOPG_COPY = "psycopg_copy"
PSYCOPG_JSON = "psycopg_json_agg"

# Contenders in display order: the four columns of the table, then extras.
MAIN = (PGBUILD, PSYCOPG, SQLALCHEMY, PYPIKA)
LABELS = {
    PGBUILD: "pgbuild",
    PSYCOPG: "psycopg",
    SQLALCHEMY: "SQLAlchemy Core",
    PYPIKA: "PyPika",
    PGBUILD_COPY: "pgbuild copy_into",
    PSYCOPG_COPY: "psycopg COPY",
    PSYCOPG_JSON: "psycopg json_agg",
}


@dataclass(frozen=True)
class Shared:
    """What the sync and async cases share."""

    data: Dataset
    bulk_rows: int
    sqla: Sqla | None
    pika: Pika | None
    run_sql: Callable[[str], Any]  # outside the timed code: resets and checks


@dataclass(frozen=True)
class Spec:
    key: str
    title: str
    notes: dict[str, str]
    baseline: str = PSYCOPG
    canon: Callable[[Any], Any] | None = None
    canons: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    reset_sql: str | None = None
    verify_sql: str | None = None  # the canon is this query's value after the first op
    teardown_sql: str | None = None  # untimed, once after the case
    max_ops: int | None = None
    warmup: int | None = None


_AD_HOC = "built per call"
# After a case that wrote users: the dead rows go, so later cases scan the
# table they would have scanned without it.
_COMPACT_USERS = "VACUUM (FULL, ANALYZE) claude_code_users"
COMPILE_NOTES = {
    PGBUILD: "build + .compile() + .as_string(): SQL text and params",
    SQLALCHEMY: "build + .compile(dialect=postgresql+psycopg) + .string/.params"
    " (no compiled cache)",
    PYPIKA: "build + str(); params are a tuple beside it",
}

COMPILE_SPECS = [
    Spec("point_select", "point select by id", COMPILE_NOTES, baseline=PGBUILD),
    Spec("filtered_page", "filtered, ordered page of 20", COMPILE_NOTES, baseline=PGBUILD),
    Spec("upsert", "upsert (on conflict do update)", COMPILE_NOTES, baseline=PGBUILD),
    Spec("jsonb_set_update", "jsonb_set update", COMPILE_NOTES, baseline=PGBUILD),
]


def e2e_specs(bulk_rows: int) -> list[Spec]:
    """The end-to-end cases, run once on Database and once on AsyncDatabase."""
    return [
        Spec(
            "point_select",
            "point select by id (ad hoc)",
            {
                PGBUILD: f"select().from_(Users).where(eq(Users.id, uid)).first(), {_AD_HOC}"
                " -> Users row",
                PSYCOPG: "conn.execute(sql, (uid,)).fetchone() -> tuple",
                SQLALCHEMY: f"conn.execute(select(users).where(...)).first(), {_AD_HOC}"
                " (its compiled cache applies)",
                PYPIKA: f"str(Query.from_(...)...), {_AD_HOC}, run by psycopg -> tuple",
            },
            canon=q.canon_user,
        ),
        Spec(
            "point_select_prepared",
            "point select by id (prepared)",
            {
                PGBUILD: "built once with placeholder('id'), .prepare(); .first(id=uid)",
                PSYCOPG: "conn.execute(sql, (uid,), prepare=True).fetchone()",
                SQLALCHEMY: "statement built once with bindparam('id')",
                PYPIKA: "SQL text built once; psycopg prepare=True",
            },
            canon=q.canon_user,
        ),
        Spec(
            "filtered_page",
            "filtered, ordered page of 20",
            {
                PGBUILD: "where(and_(gte(last_login_at, ...), like(email, ...)))"
                ".order_by(desc(created_at)).limit(20).all() -> 20 Users rows",
                PSYCOPG: "the same SELECT by hand; fetchall() -> 20 tuples",
                SQLALCHEMY: f"select(users).where(and_(...)).order_by(...).limit(20), {_AD_HOC}",
                PYPIKA: f"{_AD_HOC}, run by psycopg",
            },
            canon=q.canon_users,
        ),
        Spec(
            "insert_returning",
            "single insert returning",
            {
                PGBUILD: "insert(Users).values({...}).returning().one()",
                PSYCOPG: "INSERT ... RETURNING by hand; fetchone()",
                SQLALCHEMY: "insert(users).values({...}).returning(*users.c)",
                PYPIKA: "Query.into(...).insert(...).returning(...)",
            },
            canon=q.canon_name,
            reset_sql="DELETE FROM claude_code_users WHERE id LIKE 'ins-%'",
            teardown_sql=_COMPACT_USERS,
        ),
        Spec(
            "bulk_insert",
            f"bulk insert of {bulk_rows:,} rows",
            {
                PGBUILD: "insert(AuditLogs).values(rows).execute() (list of dicts)",
                PSYCOPG: "executemany() in one transaction (psycopg pipelines it);"
                " dicts -> tuples in the timed code",
                PSYCOPG_COPY: "COPY audit_logs (...) FROM STDIN, copy.write_row() per row",
                PGBUILD_COPY: "db.copy_into(AuditLogs, rows)",
                SQLALCHEMY: "conn.execute(insert(audit_logs), rows) in one transaction"
                " (insertmanyvalues batches)",
                PYPIKA: "one multi-row INSERT with %s parameters",
            },
            # Checked in the table: every contender must have written every row.
            verify_sql="SELECT count(*) FROM audit_logs",
            reset_sql="TRUNCATE audit_logs",
            max_ops=1,
            warmup=2,
        ),
        Spec(
            "upsert",
            "upsert returning (always conflicts)",
            {
                PGBUILD: "insert(Users).values(row).on_conflict_do_update(target=Users.email,"
                " set={name, last_login_at}).returning().one()",
                PSYCOPG: "INSERT ... ON CONFLICT (email) DO UPDATE ... RETURNING by hand",
                SQLALCHEMY: "postgresql.insert(users).values(...).on_conflict_do_update(...)",
                PYPIKA: "Query.into(...).on_conflict(...).do_update(...)",
            },
            canon=q.canon_name,
            teardown_sql=_COMPACT_USERS,
        ),
        Spec(
            "update_returning",
            "update returning",
            {
                PGBUILD: "update(Users).set({name, last_login_at}).where(eq(Users.id, uid))"
                ".returning().all()",
                PSYCOPG: "UPDATE ... RETURNING by hand; fetchall()",
                SQLALCHEMY: "update(users).values(...).where(...).returning(*users.c)",
                PYPIKA: "Query.update(...).set(...).where(...).returning(...)",
            },
            canon=q.canon_name,
            teardown_sql=_COMPACT_USERS,
        ),
        Spec(
            "relational_one",
            "user + 10 latest sessions",
            {
                PGBUILD: "query(Users).find_first(where=eq(Users.id, uid), with_={'sessions':"
                " {order_by, limit: 10}}): one statement",
                PSYCOPG: "2 queries on one connection: the user, then their sessions",
                PSYCOPG_JSON: "1 hand-written query with a json_agg subquery"
                " (nested timestamps stay strings)",
                SQLALCHEMY: "2 Core queries on one connection",
                PYPIKA: "2 queries on one connection",
            },
            canon=q.canon_tree,
            canons={
                PSYCOPG: q.canon_pair,
                SQLALCHEMY: q.canon_pair,
                PYPIKA: q.canon_pair,
                PSYCOPG_JSON: q.canon_json_tree,
            },
        ),
        Spec(
            "relational_page",
            "20 users x 10 latest sessions each",
            {
                PGBUILD: "query(Users).find_many(order_by, limit=20, with_={'sessions':"
                " {order_by, limit: 10}}): one statement",
                PSYCOPG: "N+1: the page, then one query per user (21 queries, one connection)",
                PSYCOPG_JSON: "1 hand-written query with a json_agg subquery"
                " (nested timestamps stay strings)",
                SQLALCHEMY: "N+1 with Core statements (21 queries, one connection)",
                PYPIKA: "N+1 (21 queries, one connection)",
            },
            canon=q.canon_trees,
            canons={
                PSYCOPG: q.canon_pairs,
                SQLALCHEMY: q.canon_pairs,
                PYPIKA: q.canon_pairs,
                PSYCOPG_JSON: q.canon_json_trees,
            },
        ),
    ]


MakeContender = Callable[[str, Callable[[int], Any], Callable[[Any], Any] | None], Contender]


def build_cases(
    group: str,
    specs: list[Spec],
    ops: dict[str, dict[str, Callable[[int], Any] | None]],
    make: MakeContender,
    run_sql: Callable[[str], Any],
) -> list[Case]:
    """Cases of ``group`` from the specs and the group's operations
    (``ops[key][contender]``; ``None`` or absent: that contender sits out).
    ``run_sql`` runs a statement outside the timed code and returns its
    first value (resets and checks)."""
    cases = []
    for spec in specs:
        available = ops.get(spec.key, {})
        order = [*MAIN, *(n for n in available if n not in MAIN)]
        canon = spec.canon
        if spec.verify_sql is not None:
            verify = spec.verify_sql
            canon = lambda _result, verify=verify: run_sql(verify)  # noqa: E731
        contenders = [
            make(name, op, spec.canons.get(name))
            for name in order
            if (op := available.get(name)) is not None
        ]
        reset = teardown = None
        if spec.reset_sql is not None:
            statement = spec.reset_sql
            reset = lambda statement=statement: run_sql(statement)  # noqa: E731
        if spec.teardown_sql is not None:
            statement = spec.teardown_sql
            teardown = lambda statement=statement: run_sql(statement)  # noqa: E731
        cases.append(
            Case(
                id=f"{group}.{spec.key}",
                group=group,
                title=spec.title,
                baseline=spec.baseline,
                contenders=contenders,
                notes={n: spec.notes[n] for n in available if n in spec.notes},
                canon=canon,
                reset=reset,
                teardown=teardown,
                max_ops=spec.max_ops,
                warmup=spec.warmup,
            )
        )
    return cases
