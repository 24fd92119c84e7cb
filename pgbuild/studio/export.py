"""Downloads: a table (filtered and sorted as in the grid) as CSV or JSON,
and one bytea value as its raw bytes.

Exports stream through a server-side cursor, a few thousand rows at a time:
memory stays flat whatever the table's size, and ``statement_timeout``
bounds each fetch, not the whole download. CSV follows ``COPY ... CSV``:
NULL is an empty field, an empty string is ``""``, bytea is hex text
(``\\x0102``). JSON is an array of objects as ``row_to_json`` writes them
(numbers keep all their digits, timestamps their offset).

>>> export_rows(db, "public", "users", "csv", filters=[], sort=[])   # a Download
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from pgbuild.database import Database
from pgbuild.studio.catalog import load_table
from pgbuild.studio.grid import (
    ALIAS,
    explain_filter_error,
    filters_sql,
    from_sql,
    key_condition,
    key_parts,
    order_sql,
    parse_sort,
)
from pgbuild.studio.protocol import ApiError, Download, Params, database_error, execute

__all__ = ["content_disposition", "download_bytea", "export_rows"]

BATCH = 2000
_SPECIAL = re.compile(r'[",\r\n]')


def export_rows(
    db: Database,
    schema: str,
    table_name: str,
    fmt: str,
    filters: Sequence[Any],
    sort: Sequence[Any],
) -> Download:
    """``GET /api/export``: the rows streamed as ``fmt`` (``csv`` or ``json``)."""
    if fmt not in ("csv", "json"):
        raise ApiError(400, "format must be 'csv' or 'json'")
    chunks = _chunks(db, schema, table_name, fmt, filters, sort)
    first = next(chunks)  # the query has run: a bad request is still a JSON error
    content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    return Download(f"{schema}.{table_name}.{fmt}", content_type, _primed(first, chunks))


def _primed(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    try:
        yield first
        yield from rest
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()  # a client that hung up: the cursor and connection go back now


def _chunks(
    db: Database,
    schema: str,
    table_name: str,
    fmt: str,
    filters: Sequence[Any],
    sort: Sequence[Any],
) -> Iterator[bytes]:
    with db.pool.connection() as conn:
        table = load_table(conn, schema, table_name)
        p = Params()
        where = filters_sql(table, filters, p)
        order = order_sql(key_parts(table, parse_sort(table, sort)))
        if fmt == "csv":
            select = sql.SQL(", ").join(sql.SQL("{}::text").format(c.ident)
                                        for c in table.columns)
            query = sql.SQL("SELECT {} FROM {} WHERE {}{}").format(
                select, from_sql(table), where, order)
        else:
            query = sql.SQL("SELECT row_to_json({}.*)::text FROM {} WHERE {}{}").format(
                sql.Identifier(ALIAS), from_sql(table), where, order)
        cursor = sql.Identifier(f"pgbuild_studio_export_{secrets.token_hex(4)}")
        fetch = sql.SQL("FETCH FORWARD {} FROM {}").format(sql.Literal(BATCH), cursor)
        try:
            with conn.transaction():
                execute(conn, sql.SQL("DECLARE {} NO SCROLL CURSOR FOR {}").format(
                    cursor, query), p.values)
                rows = execute(conn, fetch).fetchall()  # before the first byte is sent
                if fmt == "csv":
                    yield (",".join(_csv_field(c.name) for c in table.columns)
                           + "\r\n").encode()
                else:
                    yield b"["
                first = True
                while rows:
                    if fmt == "csv":
                        text = "".join(",".join(_csv_field(v) for v in row) + "\r\n"
                                       for row in rows)
                    else:
                        text = ("" if first else ",") + ",".join(f"\n{r[0]}" for r in rows)
                    first = False
                    yield text.encode()
                    rows = execute(conn, fetch).fetchall()
                if fmt == "json":
                    yield b"\n]\n"
        except psycopg.Error as exc:
            # Rolled back by now, so the filter at fault can be looked for.
            raise explain_filter_error(conn, table, filters, exc) from exc


def _csv_field(value: str | None) -> str:
    if value is None:
        return ""
    if value == "" or _SPECIAL.search(value) or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


def download_bytea(
    db: Database, schema: str, table_name: str, column_name: str, key: Any
) -> Download:
    """``GET /api/bytea``: one bytea value, found by its row's primary key."""
    with db.pool.connection() as conn:
        table = load_table(conn, schema, table_name)
        column = table.column(column_name)
        if column.kind != "bytea":
            raise ApiError(400, f"{column.name!r} is {column.type}, not bytea")
        p = Params()
        where = key_condition(table, key, "the row", p)
        query = sql.SQL("SELECT {}::bytea FROM {} WHERE {}").format(
            column.ident, table.ident, where)
        try:
            cur = psycopg.RawCursor(conn)
            cur.execute(query, p.values, binary=True)
            row = cur.fetchone()
        except psycopg.Error as exc:
            raise database_error(exc, f"reading {table.label}") from exc
    if row is None:
        raise ApiError(404, f"no row of {table.label} has that key")
    if row[0] is None:
        raise ApiError(404, f"{column.name!r} is NULL in that row")
    data = bytes(row[0])
    name = f"{table.name}.{column.name}.bin"
    return Download(name, "application/octet-stream", _slices(data), length=len(data))


def _slices(data: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield bytes(view[start:start + size])


def content_disposition(filename: str) -> str:
    """An attachment header any browser reads, whatever the name holds."""
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "download"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"
