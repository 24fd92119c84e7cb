"""The studio's JSON API: one function per endpoint, and the contract the
page codes against.

All API responses are JSON; errors are ``{"error": "message"}`` (sometimes
with ``column``, ``change``, ``sqlstate``, ``detail``) with a 4xx/5xx
status. Every request carries the token (header ``X-Studio-Token`` or query
``token``); POST bodies are ``application/json``.

Cells
-----
Every cell is ``null`` (SQL NULL) or a string in PostgreSQL's text output
(``col::text``: bigint and numeric exact, timestamptz with its offset,
arrays as ``{1,2,NULL}``), except bytea, ``{"bytea": <octet_length>}`` (the
value itself is never selected for the grid), and json/jsonb,
``{"json": "<text>"}``.

Endpoints
---------
``GET /``
    The page (``static/index.html``, the token written where it says
    ``__TOKEN__``). ``GET /static/<name>``: the files of ``static/``.
``GET /api/schema``
    ``{"database", "server_version", "read_only": bool, "schemas": [{"name",
    "tables": [{"schema", "name", "kind": "table"|"view"|"materialized
    view"|"foreign table", "estimated_rows": int (-1: never analyzed),
    "primary_key": [col...], "columns": [{"name", "type", "nullable",
    "default": str|null, "enum": [labels]|null, "identity":
    "always"|"by default"|null, "generated": expr|null}], "indexes":
    [{"name", "definition"}], "constraints": [{"name", "type":
    "p"|"u"|"f"|"c"|"x", "definition"}], "foreign_keys": [{"name",
    "columns", "ref_schema", "ref_table", "ref_columns"}], "referenced_by":
    [{"name", "schema", "table", "columns", "ref_columns"}], "ddl"}],
    "enums": [{"name", "values"}]}]}``. System schemas are left out.
``POST /api/rows``
    ``{"schema", "table", "filters": [{"column", "op", "value"}], "sort":
    [{"column", "dir": "asc"|"desc"}], "after": cursor|null, "limit": int
    (default 50, at most 1000)}`` → ``{"columns": [{"name", "type"}],
    "rows": [[cell...]], "keys": [{pk column: text}|null...], "next":
    cursor|null}``. Ops: ``= != < <= > >= in`` (value a list) ``like ilike``
    ``is null``, ``is not null`` (no value), ``@>`` (jsonb/json: JSON text;
    arrays: array text). Values are strings, cast to the column's type by
    the server; one that does not read as that type is a 400 naming the
    column. Pages are keyset pages on (sort columns..., primary key) — the
    row address (ctid) without one — in PostgreSQL's NULL order (last
    ascending, first descending). The cursor is opaque: pass ``next``
    back as ``after``, with the same sort.
``POST /api/count``
    ``{"schema", "table", "filters"}`` → ``{"count": int}``, exact.
``GET /api/export?schema=&table=&format=csv|json&filters=<JSON>&sort=<JSON>``
    A streamed attachment: CSV as ``COPY`` writes it (NULL empty, ``""`` the
    empty string, bytea as hex) or a JSON array of ``row_to_json`` objects.
``GET /api/bytea?schema=&table=&column=&key=<JSON of the row key>``
    The value's bytes, ``application/octet-stream``, as an attachment.
``POST /api/preview``
    ``{"schema", "table", "changes": [{"op": "update", "key": {pk: text},
    "set": {col: text|null}} | {"op": "insert", "values": {col: text|null}}
    | {"op": "delete", "key": {...}}]}`` → ``{"statements": [{"sql" ($1..
    placeholders), "params"}]}``.
``POST /api/apply``
    The same body; the same statements run in one transaction, all or
    nothing → ``{"applied": n, "rows": [[cell...]]}`` (each statement's
    RETURNING row: the row as written, or as it was before a delete). An
    error names the change (``change``: its index) and, when it can be
    told, the column. Both are 403 unless the studio runs with ``--write``;
    a table without a primary key is a 400 "read-only: no primary key".
``GET /api/migrations``
    ``{"configured": bool, "applied": [{"name", "applied_at"}], "pending":
    [names], "mismatched": [names] (changed since applied), "missing":
    [names] (applied, file gone), "drift": [lines]|null (live database vs
    declared schema), "problems": [sentences] (what ``status`` and
    ``check`` complain about), "error": str|null, "hint": str|null (why not
    configured), "project": path|null}``.
``POST /api/sql``
    ``{"sql", "params": [text|null...], "explain": bool, "analyze": bool,
    "id": str}`` → ``{"columns": [{"name", "type"}], "rows": [[text|null]],
    "rowcount": int, "status": str, "truncated": bool}``. One statement,
    ``$1``.. parameters, at most 1000 rows; ``explain`` wraps it in
    ``EXPLAIN (FORMAT TEXT[, ANALYZE])``. Read-only unless ``--write``.
``POST /api/cancel``
    ``{"id"}`` → ``{"cancelled": bool}``: cancels the running console
    statement of that id (it then answers 400 with an error that says
    "cancelled").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from pgbuild.database import Database
from pgbuild.studio import catalog, console, edits, export, grid, migrations
from pgbuild.studio.protocol import (
    ApiError,
    Download,
    require_list,
    require_object,
    require_str,
)

__all__ = ["ROUTES", "Context", "Request"]


@dataclass
class Context:
    """What the endpoints share for the life of one studio."""

    db: Database
    write: bool
    project: Path | None = None
    running: console.Running = field(default_factory=console.Running)


@dataclass(frozen=True)
class Request:
    """A request that passed the security checks: the query string's first
    values, and the JSON body (None for GET)."""

    query: Mapping[str, str]
    body: Any = None

    def object(self) -> Mapping[str, Any]:
        return require_object(self.body, "the request body")

    def param(self, name: str) -> str:
        value = self.query.get(name)
        if not value:
            raise ApiError(400, f"query parameter {name!r} is missing")
        return value

    def json_param(self, name: str, default: Any) -> Any:
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, f"query parameter {name!r} is not JSON: {exc}") from exc


Handler = Callable[[Context, Request], "dict[str, Any] | Download"]


def schema(ctx: Context, request: Request) -> dict[str, Any]:
    with ctx.db.pool.connection() as conn:
        row = conn.execute("SELECT current_database(), current_setting('server_version')")
        database, version = row.fetchone() or ("", "")
        return {"database": database, "server_version": version, "read_only": not ctx.write,
                "schemas": catalog.describe(conn)}


def rows(ctx: Context, request: Request) -> dict[str, Any]:
    body = request.object()
    limit = body.get("limit", grid.DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= grid.MAX_LIMIT:
        raise ApiError(400, f"'limit' must be an integer from 1 to {grid.MAX_LIMIT}")
    with ctx.db.pool.connection() as conn:
        table = catalog.load_table(conn, require_str(body, "schema"), require_str(body, "table"))
        page = grid.read_page(conn, table, require_list(body, "filters"),
                              require_list(body, "sort"), body.get("after"), limit)
    return page.to_json()


def count(ctx: Context, request: Request) -> dict[str, Any]:
    body = request.object()
    with ctx.db.pool.connection() as conn:
        table = catalog.load_table(conn, require_str(body, "schema"), require_str(body, "table"))
        return {"count": grid.count_rows(conn, table, require_list(body, "filters"))}


def export_rows(ctx: Context, request: Request) -> Download:
    filters = request.json_param("filters", [])
    sort = request.json_param("sort", [])
    if not isinstance(filters, list) or not isinstance(sort, list):
        raise ApiError(400, "'filters' and 'sort' must be JSON lists")
    return export.export_rows(ctx.db, request.param("schema"), request.param("table"),
                              request.query.get("format", "csv"), filters, sort)


def bytea(ctx: Context, request: Request) -> Download:
    return export.download_bytea(ctx.db, request.param("schema"), request.param("table"),
                                 request.param("column"), request.json_param("key", None))


def _writable(ctx: Context) -> None:
    if not ctx.write:
        raise ApiError(403, "the studio is read-only; start it with --write to edit rows")


def _plan(
    conn: psycopg.Connection[Any], request: Request
) -> tuple[catalog.TableInfo, list[edits.Statement]]:
    body = request.object()
    schema_name, table_name = require_str(body, "schema"), require_str(body, "table")
    table = catalog.load_table(conn, schema_name, table_name)
    return table, edits.plan(table, require_list(body, "changes"))


def preview(ctx: Context, request: Request) -> dict[str, Any]:
    _writable(ctx)
    with ctx.db.pool.connection() as conn:
        _, statements = _plan(conn, request)
        return {"statements": [s.to_json(conn) for s in statements]}


def apply(ctx: Context, request: Request) -> dict[str, Any]:
    _writable(ctx)
    with ctx.db.pool.connection() as conn:
        table, statements = _plan(conn, request)
        return edits.apply(conn, table, statements)


def migrations_pane(ctx: Context, request: Request) -> dict[str, Any]:
    return migrations.pane(ctx.db, ctx.project)


def run_sql(ctx: Context, request: Request) -> dict[str, Any]:
    body = request.object()
    with ctx.db.pool.connection() as conn:
        return console.run(conn, body, write=ctx.write, running=ctx.running)


def cancel(ctx: Context, request: Request) -> dict[str, Any]:
    return {"cancelled": ctx.running.cancel(require_str(request.object(), "id"))}


ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/api/schema"): schema,
    ("POST", "/api/rows"): rows,
    ("POST", "/api/count"): count,
    ("GET", "/api/export"): export_rows,
    ("GET", "/api/bytea"): bytea,
    ("POST", "/api/preview"): preview,
    ("POST", "/api/apply"): apply,
    ("GET", "/api/migrations"): migrations_pane,
    ("POST", "/api/sql"): run_sql,
    ("POST", "/api/cancel"): cancel,
}
