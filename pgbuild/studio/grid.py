"""The grid's queries: typed filters, sort, and keyset pagination.

A page is ``SELECT <cells>, <key texts> FROM t WHERE <filters> AND <after
the cursor> ORDER BY <sort>, <key> LIMIT n + 1`` — never OFFSET, so page
10,000 costs what page 1 does when an index serves the order. The key that
makes the order total is the primary key; without one, the row's address
(``ctid``); for views, which have neither, every sortable column, with
rows equal in all of them told apart by counting (``skip`` in the cursor).

NULLs sort as PostgreSQL sorts them: last ascending, first descending; the
"after the cursor" condition is written for that order column by column,
so paging through a sort column full of NULLs and duplicates returns every
row exactly once.

Cells are what the server prints for each value (``col::text``), so bigint,
numeric and timestamptz arrive exactly as stored; bytea arrives as its size
only (``{"bytea": n}``) and JSON wrapped (``{"json": text}``).

Every name comes from :class:`~pgbuild.studio.catalog.TableInfo` (checked
against the catalog), every value is a bound parameter cast to the
column's catalog type.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pgbuild.studio.catalog import ColumnInfo, TableInfo
from pgbuild.studio.protocol import (
    ApiError,
    Params,
    cast_failure,
    database_error,
    execute,
    require_object,
    server_message,
)

__all__ = ["ALIAS", "Page", "Sort", "cells_sql", "count_rows", "encode_cell", "filters_sql",
           "from_sql", "key_condition", "key_parts", "order_sql", "parse_sort", "read_page"]

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50
MAX_IN = 1000
MAX_SKIP = 1_000_000  # rows of a view equal in every column, already shown
ALIAS = "t"  # the table in grid queries: FROM "schema"."table" AS "t"

_COMPARISONS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
OPS = (*_COMPARISONS, "in", "like", "ilike", "is null", "is not null", "@>")


@dataclass(frozen=True)
class KeyPart:
    """One column of the page order: its SQL, direction, the type its
    cursor text is cast back to, and whether it can be NULL."""

    name: str
    expr: sql.Composable
    desc: bool
    cast: sql.Composable
    nullable: bool


@dataclass(frozen=True)
class Sort:
    column: ColumnInfo
    desc: bool


@dataclass
class Page:
    """One page of ``POST /api/rows``."""

    columns: list[dict[str, str]]
    rows: list[list[Any]]
    keys: list[dict[str, str | None] | None]
    next: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": self.rows, "keys": self.keys,
                "next": self.next}


# ------------------------------------------------------------------ cells


def cells_sql(table: TableInfo) -> sql.Composable:
    """The select list of the grid: one expression per column."""
    return sql.SQL(", ").join(cell_sql(c) for c in table.columns)


def cell_sql(column: ColumnInfo) -> sql.Composable:
    if column.kind == "bytea":
        return sql.SQL("octet_length({})").format(column.ident)
    return sql.SQL("{}::text").format(column.ident)


def encode_cell(column: ColumnInfo, value: Any) -> Any:
    """A selected cell as the JSON contract has it."""
    if value is None:
        return None
    if column.kind == "bytea":
        return {"bytea": int(value)}
    if column.kind in ("json", "jsonb"):
        return {"json": value}
    return value


# ------------------------------------------------------------------ filters


def filters_sql(table: TableInfo, filters: Sequence[Any], p: Params) -> sql.Composable:
    """``filters`` (``[{"column", "op", "value"}]``) as one SQL condition
    (``TRUE`` when empty), its values bound through ``p``."""
    parts: list[sql.Composable] = []
    for i, raw in enumerate(filters):
        item = require_object(raw, f"filter {i + 1}")
        column = table.column(item.get("column"))
        op = item.get("op")
        value = item.get("value")
        where = f"filter on {column.name!r}"

        def cast(v: Any, column: ColumnInfo = column, where: str = where) -> sql.Composable:
            return sql.SQL("CAST({} AS {})").format(p(_text(v, where)), column.cast_type)

        if op in _COMPARISONS:
            parts.append(sql.SQL("{} {} {}").format(
                column.ident, sql.SQL(_COMPARISONS[op]), cast(value)))
        elif op == "in":
            if not isinstance(value, list) or len(value) > MAX_IN:
                raise ApiError(400, f"{where}: 'in' takes a list of at most {MAX_IN} values")
            parts.append(sql.SQL("{} IN ({})").format(
                column.ident, sql.SQL(", ").join(cast(v) for v in value))
                if value else sql.SQL("FALSE"))
        elif op in ("like", "ilike"):
            parts.append(sql.SQL("{}::text {} {}").format(
                column.ident, sql.SQL("LIKE" if op == "like" else "ILIKE"),
                p(_text(value, where))))
        elif op in ("is null", "is not null"):
            parts.append(sql.SQL("{} {}").format(
                column.ident, sql.SQL("IS NULL" if op == "is null" else "IS NOT NULL")))
        elif op == "@>":
            if column.kind in ("jsonb", "json"):
                parts.append(sql.SQL("{}{} @> CAST({} AS jsonb)").format(
                    column.ident, sql.SQL("::jsonb" if column.kind == "json" else ""),
                    p(_text(value, where))))
            elif column.kind == "array":
                parts.append(sql.SQL("{} @> {}").format(column.ident, cast(value)))
            else:
                raise ApiError(400, f"{where}: '@>' needs a jsonb, json or array column, "
                                    f"not {column.type}")
        else:
            raise ApiError(400, f"{where}: unknown op {op!r}; one of {', '.join(OPS)}")
    return sql.SQL(" AND ").join(parts) if parts else sql.SQL("TRUE")


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ApiError(400, f"{where}: the value must be a string, not {json.dumps(value)}")
    return value


def explain_filter_error(
    conn: psycopg.Connection[Any], table: TableInfo, filters: Sequence[Any],
    exc: psycopg.Error,
) -> ApiError:
    """A 400 for a query the server refused: when a filter value does not
    read as its column's type, the error names that column (each value is
    tried on its own, only after the query failed: no cost when all is
    well); otherwise the server's message."""
    if isinstance(exc, psycopg.errors.DataError):
        for raw in filters:
            if not isinstance(raw, dict) or raw.get("op") in (
                "like", "ilike", "is null", "is not null"
            ):
                continue
            column = table.column(raw.get("column"))
            value = raw.get("value")
            json_value = raw.get("op") == "@>" and column.kind != "array"
            target = sql.SQL("jsonb") if json_value else column.cast_type
            for v in value if isinstance(value, list) else [value]:
                bad = cast_failure(conn, target, v)
                if bad is not None:
                    return ApiError(400, f"filter on {column.name!r}: {server_message(bad)}",
                                    column=column.name)
    return database_error(exc, f"reading {table.label}")


# ------------------------------------------------------------------ sort and keys


def parse_sort(table: TableInfo, sort: Sequence[Any]) -> list[Sort]:
    """``[{"column", "dir"}]`` checked against the table."""
    out: list[Sort] = []
    seen: set[str] = set()
    for i, raw in enumerate(sort):
        item = require_object(raw, f"sort {i + 1}")
        column = table.column(item.get("column"))
        direction = item.get("dir", "asc")
        if direction not in ("asc", "desc"):
            raise ApiError(400, f"sort on {column.name!r}: dir must be 'asc' or 'desc'")
        if column.name in seen:
            raise ApiError(400, f"sort on {column.name!r} given twice")
        if not column.orderable:
            raise ApiError(400, f"{column.name!r} ({column.type}) cannot be sorted")
        seen.add(column.name)
        out.append(Sort(column, direction == "desc"))
    return out


def key_parts(table: TableInfo, sort: Sequence[Sort]) -> list[KeyPart]:
    """The page order: the sort columns, then what makes it total. Names
    are qualified by :data:`ALIAS`: a bare name in ORDER BY would mean the
    select list's ``"col"::text`` of the same name, and sort as text."""
    parts = [KeyPart(s.column.name, sql.Identifier(ALIAS, s.column.name), s.desc,
                     s.column.cast_type, s.column.nullable) for s in sort]
    named = {s.column.name for s in sort}
    if table.primary_key:
        tail = [table.column(n) for n in table.primary_key if n not in named]
    elif table.has_ctid:
        ctid = sql.SQL("{}.ctid").format(sql.Identifier(ALIAS))
        return [*parts, KeyPart("ctid", ctid, False, sql.SQL("tid"), False)]
    else:
        tail = [c for c in table.columns if c.orderable and c.name not in named]
    return parts + [KeyPart(c.name, sql.Identifier(ALIAS, c.name), False, c.cast_type,
                            c.nullable) for c in tail]


def from_sql(table: TableInfo) -> sql.Composable:
    """``"schema"."table" AS "t"``: the FROM of every grid query."""
    return sql.SQL("{} AS {}").format(table.ident, sql.Identifier(ALIAS))


def after_sql(
    parts: Sequence[KeyPart], values: Sequence[str | None], inclusive: bool, p: Params
) -> sql.Composable:
    """Rows after ``values`` (or equal to them, when ``inclusive``) in the
    order of ``parts``, NULLs last ascending and first descending."""
    if (values and all(v is not None for v in values) and not any(k.nullable for k in parts)
            and len({k.desc for k in parts}) == 1):
        # The common case (the primary key, one direction): a row comparison,
        # which an index on those columns serves.
        op = ("<" if parts[0].desc else ">") + ("=" if inclusive else "")
        return sql.SQL("({}) {} ({})").format(
            sql.SQL(", ").join(k.expr for k in parts), sql.SQL(op),
            sql.SQL(", ").join(sql.SQL("CAST({} AS {})").format(p(v), k.cast)
                               for k, v in zip(parts, values, strict=True)))

    def equal(k: KeyPart, v: str | None) -> sql.Composable:
        if v is None:
            return sql.SQL("{} IS NULL").format(k.expr)
        return sql.SQL("{} = CAST({} AS {})").format(k.expr, p(v), k.cast)

    def beyond(k: KeyPart, v: str | None) -> sql.Composable:
        if v is None:
            return sql.SQL("{} IS NOT NULL").format(k.expr)  # descending: NULLs came first
        test = sql.SQL("{} {} CAST({} AS {})").format(
            k.expr, sql.SQL("<" if k.desc else ">"), p(v), k.cast)
        if k.nullable and not k.desc:
            return sql.SQL("({} OR {} IS NULL)").format(test, k.expr)
        return test

    alternatives: list[sql.Composable] = []
    for i, (part, value) in enumerate(zip(parts, values, strict=True)):
        if value is None and not part.desc:
            continue  # ascending, NULL is the largest value: nothing is beyond it
        terms = [equal(k, v) for k, v in zip(parts[:i], values[:i], strict=True)]
        terms.append(beyond(part, value))
        alternatives.append(sql.SQL("({})").format(sql.SQL(" AND ").join(terms)))
    if inclusive:
        alternatives.append(sql.SQL("({})").format(
            sql.SQL(" AND ").join(equal(k, v) for k, v in zip(parts, values, strict=True))
            if parts else sql.SQL("TRUE")))
    if not alternatives:
        return sql.SQL("FALSE")
    return sql.SQL("({})").format(sql.SQL(" OR ").join(alternatives))


def order_sql(parts: Sequence[KeyPart]) -> sql.Composable:
    if not parts:
        return sql.SQL("")
    return sql.SQL(" ORDER BY ") + sql.SQL(", ").join(
        sql.SQL("{} DESC" if p.desc else "{}").format(p.expr) for p in parts)


def _fingerprint(parts: Sequence[KeyPart]) -> str:
    text = json.dumps([[p.name, p.desc] for p in parts])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_cursor(cursor: Any, parts: Sequence[KeyPart]) -> tuple[list[str | None], int] | None:
    if cursor is None:
        return None
    item = require_object(cursor, "'after'")
    values, skip, mark = item.get("v"), item.get("s", 0), item.get("f")
    if mark != _fingerprint(parts):
        raise ApiError(400, "'after' belongs to another sort order (or is not a cursor this "
                            "studio gave out); start from the first page")
    if (not isinstance(values, list) or len(values) != len(parts)
            or not all(v is None or isinstance(v, str) for v in values)
            or isinstance(skip, bool) or not isinstance(skip, int) or not 0 <= skip <= MAX_SKIP):
        raise ApiError(400, "'after' is not a cursor this studio gave out")
    return values, skip


# ------------------------------------------------------------------ the queries


def read_page(
    conn: psycopg.Connection[Any],
    table: TableInfo,
    filters: Sequence[Any],
    sort: Sequence[Any],
    after: Any,
    limit: int,
) -> Page:
    """One page of rows, the cursor of the next one (None on the last)."""
    p = Params()
    where = filters_sql(table, filters, p)
    parts = key_parts(table, parse_sort(table, sort))
    start = _read_cursor(after, parts)
    skip = 0
    if start is not None:
        values, skip = start
        where = sql.SQL("{} AND {}").format(where, after_sql(parts, values, skip > 0, p))
    keys = sql.SQL("").join(sql.SQL(", {}::text").format(k.expr) for k in parts)
    query = sql.SQL("SELECT {}{} FROM {} WHERE {}{} LIMIT {}").format(
        cells_sql(table), keys, from_sql(table), where, order_sql(parts),
        sql.Literal(limit + skip + 1))
    try:
        fetched = execute(conn, query, p.values).fetchall()
    except psycopg.Error as exc:
        raise explain_filter_error(conn, table, filters, exc) from exc
    width = len(table.columns)
    rows = fetched[skip:]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = list(rows[-1][width:])
        ties = 0
        if not _unique(table):
            # Rows equal in every key column (a view's duplicates) are told
            # apart by counting how many of them this page already showed.
            for row in reversed(rows):
                if list(row[width:]) != last:
                    break
                ties += 1
            if start is not None and ties == len(rows) and last == start[0]:
                ties += skip
        next_cursor = {"v": last, "s": ties, "f": _fingerprint(parts)}
    at = {k.name: width + i for i, k in enumerate(parts)}
    return Page(
        columns=[{"name": c.name, "type": c.type} for c in table.columns],
        rows=[[encode_cell(c, v) for c, v in zip(table.columns, row, strict=False)]
              for row in rows],
        keys=[{name: row[at[name]] for name in table.primary_key}
              if table.primary_key else None for row in rows],
        next=next_cursor,
    )


def _unique(table: TableInfo) -> bool:
    """Whether the page key is unique: a primary key, or a plain table's ctid
    (a partitioned table's ctid repeats from one partition to the next)."""
    return bool(table.primary_key) or table.relkind in ("r", "m")


def count_rows(conn: psycopg.Connection[Any], table: TableInfo, filters: Sequence[Any]) -> int:
    """The exact number of rows matching ``filters``."""
    p = Params()
    where = filters_sql(table, filters, p)
    query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(table.ident, where)
    try:
        row = execute(conn, query, p.values).fetchone()
    except psycopg.Error as exc:
        raise explain_filter_error(conn, table, filters, exc) from exc
    return int(row[0]) if row else 0


def key_condition(table: TableInfo, key: Any, what: str, p: Params) -> sql.Composable:
    """``pk1 = CAST($n AS t1) AND ...`` for a row key from the grid
    (``{pk column: text}``); a 400 unless it names exactly the primary key."""
    if not table.primary_key:
        raise ApiError(400, f"read-only: no primary key ({table.label})")
    item: Mapping[str, Any] = require_object(key, f"{what}: the key")
    if set(item) != set(table.primary_key):
        raise ApiError(400, f"{what}: the key must give exactly the primary key columns "
                            f"({', '.join(table.primary_key)}) of {table.label}")
    parts: list[sql.Composable] = []
    for name in table.primary_key:
        column = table.column(name)
        value = item[name]
        if not isinstance(value, str):
            raise ApiError(400, f"{what}: key column {name!r} must be a string")
        parts.append(sql.SQL("{} = CAST({} AS {})").format(
            column.ident, p(value), column.cast_type))
    return sql.SQL(" AND ").join(parts)
