"""What every endpoint module of the studio shares: the error an endpoint
raises to answer with a status, a streamed download, and small checks of
request bodies.

>>> raise ApiError(404, "no table public.users")     # answered as {"error": ...}
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pgbuild.errors import server_message

__all__ = [
    "ApiError",
    "Download",
    "Params",
    "cast_failure",
    "database_error",
    "execute",
    "optional_str",
    "require_list",
    "require_object",
    "require_str",
    "server_message",
]


class ApiError(Exception):
    """Answer the request with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        return {"error": self.message, **self.extra}


@dataclass
class Download:
    """A streamed answer: ``chunks`` is consumed while the response is sent
    (chunked transfer encoding), so nothing is held whole in memory.

    ``chunks`` has already produced its first chunk's worth of work (the
    query ran) when the handler returns, so that a bad request still gets a
    JSON error instead of a broken download."""

    filename: str
    content_type: str
    chunks: Iterator[bytes]
    length: int | None = None  # known size: sent with Content-Length, not chunked


class Params:
    """The bound values of one statement, each written ``$n`` where it goes.

    The studio runs its statements on :class:`psycopg.RawCursor` (native
    ``$n`` placeholders): a ``%`` in a table or column name then means
    nothing special, and the SQL the editor previews is the SQL it runs.

    >>> p = Params()
    >>> sql.SQL("SELECT {} + {}").format(p(1), p(2))   # SELECT $1 + $2
    """

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> sql.Composable:
        self.values.append(value)
        return sql.SQL(f"${len(self.values)}")


def execute(
    conn: psycopg.Connection[Any], query: sql.Composed | sql.SQL, params: Sequence[Any] = ()
) -> psycopg.RawCursor[Any]:
    """Run ``query`` (with ``$n`` placeholders) and return its cursor."""
    cur = psycopg.RawCursor(conn)
    cur.execute(query, list(params))
    return cur


def cast_failure(
    conn: psycopg.Connection[Any], target: sql.Composable, value: Any
) -> psycopg.Error | None:
    """The server's error when ``value`` does not read as the type
    ``target``, else None: how a failed statement's bad value is found,
    once the statement has been rolled back."""
    try:
        execute(conn, sql.SQL("SELECT CAST($1 AS {})").format(target), [value])
    except psycopg.Error as exc:
        return exc
    return None


def database_error(exc: psycopg.Error, what: str) -> ApiError:
    """A 400 for a statement the server refused (bad value, constraint,
    read-only session, timeout), naming ``what`` was being done; SQLSTATE
    and the column the server blames go along as fields."""
    diag = exc.diag
    message = server_message(exc)
    detail = (diag.message_detail or "").strip()
    extra: dict[str, Any] = {"sqlstate": exc.sqlstate}
    if diag.column_name:
        extra["column"] = diag.column_name
    if detail:
        extra["detail"] = detail
    status = 400
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        status = 403
    return ApiError(status, f"{what}: {message}", **extra)


def require_object(value: Any, what: str) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else a 400 naming ``what``."""
    if not isinstance(value, dict):
        raise ApiError(400, f"{what} must be a JSON object")
    return value


def require_str(body: Mapping[str, Any], key: str) -> str:
    """``body[key]`` when it is a non-empty string, else a 400 naming ``key``."""
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"{key!r} must be a non-empty string")
    return value


def optional_str(body: Mapping[str, Any], key: str) -> str | None:
    """``body[key]`` when it is a string, None when absent or null."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{key!r} must be a string or null")
    return value


def require_list(body: Mapping[str, Any], key: str) -> list[Any]:
    """``body[key]`` when it is a list (absent or null: empty), else a 400."""
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(400, f"{key!r} must be a list")
    return value
