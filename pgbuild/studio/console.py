"""The SQL console: one statement with ``$n`` parameters, EXPLAIN, cancel.

A statement runs in a transaction of its own, sent with the extended query
protocol, which takes exactly one statement: ``SET
default_transaction_read_only = off; DROP ...`` is refused by the server as
two commands. In a read-only studio the transaction is always rolled back,
so even a ``SET`` or ``set_config()`` that loosens the session does not
outlive its statement; with ``--write`` it commits, and ``RESET ALL`` then
puts the session back as the studio opened it.

Cells come back as the server prints them (every type loaded as text), so
values no Python type holds (``infinity`` dates, year 10000) show as they
are.

>>> console.run(db, {"sql": "select $1::int + 1", "params": ["41"], "id": "q1"}, write=False)
{'columns': [{'name': '?column?', 'type': 'int4'}], 'rows': [['42']], ...}
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.adapt import Buffer, Loader

from pgbuild.studio.protocol import (
    ApiError,
    database_error,
    optional_str,
    require_list,
    server_message,
)

__all__ = ["MAX_ROWS", "Running", "run"]

MAX_ROWS = 1000


class _Text(Loader):
    """Any value as the text the server sent."""

    def load(self, data: Buffer) -> str:
        return bytes(data).decode("utf-8")


def _text_cursor(conn: psycopg.Connection[Any]) -> psycopg.RawCursor[Any]:
    cur = psycopg.RawCursor(conn)
    cur.adapters.register_loader(0, _Text)  # types psycopg does not know
    for info in psycopg.postgres.types:
        cur.adapters.register_loader(info.oid, _Text)
        if info.array_oid:
            cur.adapters.register_loader(info.array_oid, _Text)
    return cur


class Running:
    """The console statements running now, by the id the page gave them,
    so that ``POST /api/cancel`` can reach their connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: dict[str, psycopg.Connection[Any]] = {}

    @contextmanager
    def track(self, statement_id: str | None, conn: psycopg.Connection[Any]) -> Iterator[None]:
        if statement_id is None:
            yield
            return
        with self._lock:
            if statement_id in self._conns:
                raise ApiError(409, f"a statement with id {statement_id!r} is already running")
            self._conns[statement_id] = conn
        try:
            yield
        finally:
            # Under the lock: a cancel for this id either reaches this
            # statement or finds nothing, never the connection's next user.
            with self._lock:
                del self._conns[statement_id]

    def cancel(self, statement_id: str) -> bool:
        """Ask the server to cancel the statement; False when none runs."""
        with self._lock:
            conn = self._conns.get(statement_id)
            if conn is None:
                return False
            conn.cancel_safe(timeout=5.0)
            return True


def _columns(conn: psycopg.Connection[Any], cur: psycopg.RawCursor[Any]) -> list[dict[str, str]]:
    """Names and types of the result's columns, types as the catalog names
    them (``bigint``, ``mood``, ``numeric(40,10)``)."""
    result = cur.pgresult
    if cur.description is None or result is None:
        return []
    oids = [result.ftype(i) for i in range(result.nfields)]
    mods = [result.fmod(i) for i in range(result.nfields)]
    found = conn.execute(
        "SELECT format_type(t, NULLIF(m, -1)) FROM unnest(%s::oid[], %s::int[])"
        " WITH ORDINALITY AS u(t, m, i) ORDER BY i", (oids, mods)).fetchall()
    return [{"name": d.name, "type": row[0] or d.type_display}
            for d, row in zip(cur.description, found, strict=True)]


def run(
    conn: psycopg.Connection[Any], body: Mapping[str, Any], *, write: bool, running: Running
) -> dict[str, Any]:
    """``POST /api/sql`` on ``conn`` (autocommit, from the pool)."""
    text = body.get("sql")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "'sql' must be a non-empty string")
    params = require_list(body, "params")
    for i, value in enumerate(params):
        if value is not None and not isinstance(value, str):
            raise ApiError(400, f"parameter ${i + 1} must be a string or null")
    statement: sql.SQL | sql.Composed = sql.SQL(text.strip().rstrip(";"))  # it is a console
    if body.get("explain") or body.get("analyze"):
        options = "FORMAT TEXT, ANALYZE" if body.get("analyze") else "FORMAT TEXT"
        statement = sql.SQL("EXPLAIN ({}) {}").format(sql.SQL(options), statement)
    statement_id = optional_str(body, "id")
    cur = _text_cursor(conn)
    try:
        with running.track(statement_id, conn), conn.transaction(force_rollback=not write):
            # A pipeline sends Parse/Bind/Execute: one statement, never several.
            with conn.pipeline():
                cur.execute(statement, params, prepare=False)
            rows = cur.fetchmany(MAX_ROWS + 1) if cur.description is not None else []
            status = cur.statusmessage or ""
            rowcount = cur.rowcount
            columns = _columns(conn, cur)
    except psycopg.errors.QueryCanceled as exc:
        raise ApiError(400, f"cancelled: {server_message(exc)}",
                       sqlstate=exc.sqlstate) from exc
    except psycopg.Error as exc:
        raise database_error(exc, "the statement failed") from exc
    finally:
        if write and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            try:
                conn.execute("RESET ALL")
            except psycopg.Error:
                pass  # a broken connection: the pool replaces it
    return {
        "columns": columns,
        "rows": [list(r) for r in rows[:MAX_ROWS]],
        "rowcount": rowcount,
        "status": status,
        "truncated": len(rows) > MAX_ROWS,
    }
