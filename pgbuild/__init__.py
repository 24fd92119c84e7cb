"""pgbuild: a small, typed PostgreSQL query builder for Python, on psycopg 3.

Every public name is importable from here::

    from pgbuild import Database, Table, text, timestamp, eq, desc, sql
"""

from pgbuild.columns import (
    Column,
    PgEnum,
    bigint,
    bigserial,
    boolean,
    bytea,
    char,
    cidr,
    date,
    double_precision,
    inet,
    integer,
    interval,
    json,
    jsonb,
    macaddr,
    numeric,
    pg_enum,
    real,
    serial,
    smallint,
    text,
    time,
    timestamp,
    uuid,
    varchar,
)
from pgbuild.database import Database, Transaction
from pgbuild.errors import (
    DatabaseError,
    IntegrityError,
    MultipleResultsError,
    NoResultError,
    PgbuildError,
    QueryError,
    SchemaError,
    TransactionRollback,
)
from pgbuild.expressions import (
    Compiled,
    Expr,
    and_,
    array_contained,
    array_contains,
    array_overlaps,
    asc,
    avg,
    between,
    coalesce,
    count,
    count_distinct,
    desc,
    eq,
    excluded,
    exists,
    gt,
    gte,
    ilike,
    in_,
    is_not_null,
    is_null,
    jsonb_set,
    like,
    lt,
    lte,
    max_,
    min_,
    ne,
    not_,
    not_between,
    not_exists,
    not_ilike,
    not_in,
    not_like,
    or_,
    sum_,
)
from pgbuild.raw import sql
from pgbuild.rows import JoinedRow, Row
from pgbuild.session import Result
from pgbuild.table import (
    Table,
    check,
    foreign_key,
    index,
    primary_key,
    unique,
    unique_index,
)

__all__ = [
    "Column", "Compiled", "Database", "DatabaseError", "Expr", "IntegrityError", "JoinedRow",
    "MultipleResultsError", "NoResultError", "PgEnum", "PgbuildError", "QueryError", "Result",
    "Row", "SchemaError", "Table", "Transaction", "TransactionRollback", "and_",
    "array_contained", "array_contains", "array_overlaps", "asc", "avg", "between", "bigint",
    "bigserial", "boolean", "bytea", "char", "check", "cidr", "coalesce", "count",
    "count_distinct", "date", "desc", "double_precision", "eq", "excluded", "exists",
    "foreign_key", "gt", "gte", "ilike", "in_", "index", "inet", "integer", "interval",
    "is_not_null", "is_null", "json", "jsonb", "jsonb_set", "like", "lt", "lte", "macaddr",
    "max_", "min_", "ne", "not_", "not_between", "not_exists", "not_ilike", "not_in",
    "not_like", "numeric", "or_", "pg_enum", "primary_key", "real", "serial", "smallint",
    "sql", "sum_", "text", "time", "timestamp", "unique", "unique_index", "uuid", "varchar",
]
