"""What ``db`` and ``tx`` both offer: the builders, raw SQL and ``count``.

:class:`Session` holds no connection of its own; :class:`~pgbuild.Database`
borrows one from its pool per statement, a transaction keeps one for its
whole block. Statements run here, errors are wrapped here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Coroutine, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

import psycopg
from psycopg.rows import RowMaker

from pgbuild.errors import (
    DatabaseError,
    IntegrityError,
    MultipleResultsError,
    NoResultError,
    PgbuildError,
    QueryError,
    SerializationError,
    server_message,
)
from pgbuild.expressions import Compiled, Expr, count
from pgbuild.queries.base import Async, Finish, M, Query, Sync
from pgbuild.queries.builders import Builders
from pgbuild.rows import Maker, Row, maker_factory
from pgbuild.table import Table

if TYPE_CHECKING:
    from pgbuild.queries.cte import With
    from pgbuild.queries.relational import RelationalQuery
    from pgbuild.queries.subquery import Subquery

TT = TypeVar("TT", bound=Table)
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")
E = TypeVar("E")
F = TypeVar("F")


class Result:
    """The rows of a statement run with ``db.execute(...)``: ``.all()``,
    ``.one()``, ``.first()``, ``.scalar()`` and ``.rowcount``."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def all(self) -> list[Any]:
        """Every row (attribute access by column name: ``row.session_count``)."""
        return list(self._rows)

    def first(self) -> Any:
        """The first row, or ``None``."""
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        """Exactly one row, else :class:`NoResultError` / :class:`MultipleResultsError`."""
        if len(self._rows) == 1:
            return self._rows[0]
        if not self._rows:
            raise NoResultError("expected exactly one row, got none")
        raise MultipleResultsError(f"expected exactly one row, got {len(self._rows)}")

    def scalar(self) -> Any:
        """The first column of the first row, or ``None``."""
        return self._rows[0][0] if self._rows else None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


class _NamedRow(Row):
    """A raw-SQL row: attributes by column name, and positions (``row[0]``)."""

    __slots__ = ("_values",)

    def __init__(self, data: dict[str, Any], values: Sequence[Any]) -> None:
        super().__init__(data)
        object.__setattr__(self, "_values", tuple(values))

    def __getitem__(self, key: Any) -> Any:
        return self._values[key] if isinstance(key, int) else super().__getitem__(key)


def _raw_row_factory(cursor: Any) -> RowMaker[Any]:
    names = tuple(c.name for c in cursor.description or ())

    def make(values: Sequence[Any]) -> Any:
        return _NamedRow(dict(zip(names, values, strict=True)), values)

    return make


class Session(Builders[M]):
    """The builders and helpers shared by databases and transactions, sync
    (``M`` = :class:`Sync`) and async (``M`` = :class:`Async`)."""

    _logger: logging.Logger | None = None
    _log_params: bool = False

    # -- what an executor provides (sync: values; async: coroutines)

    def _fetch(self, compiled: Compiled, maker: Maker | None, finish: Finish) -> Any:
        raise NotImplementedError

    def _run(self, compiled: Compiled) -> Any:
        raise NotImplementedError

    def _stream(self, compiled: Compiled, maker: Maker | None, batch_size: int) -> Any:
        raise NotImplementedError

    def _result(self, compiled: Compiled, row_factory: Any) -> Any:
        raise NotImplementedError

    # -- builders: select/insert/update/delete come from Builders

    def _target(self) -> Session[M]:
        return self

    def with_(self, *ctes: Subquery[Any]) -> With[M]:
        """``WITH name AS (...)``: named queries (``q.as_("name")``) that the
        following select, insert, update or delete can use as tables.

        >>> recent = db.select(Sessions.user_id).from_(Sessions).as_("recent")
        >>> db.with_(recent).select().from_(Users)
        ...   .where(in_(Users.id, db.select(recent.user_id).from_(recent))).all()
        """
        from pgbuild.queries.cte import With, check_ctes

        return With(self, check_ctes(ctes))

    def query(self, table: type[TT]) -> RelationalQuery[TT, M]:
        """Relational queries: ``db.query(Users).find_many(with_={"sessions": True})``."""
        from pgbuild.queries.relational import RelationalQuery

        return RelationalQuery(self, table)

    @overload
    def count(self: Session[Sync], table: type[Table], where: Expr[bool] | None = None) -> int: ...
    @overload
    def count(
        self: Session[Async], table: type[Table], where: Expr[bool] | None = None
    ) -> Coroutine[Any, Any, int]: ...
    def count(self, table: type[Table], where: Expr[bool] | None = None) -> Any:
        """The number of rows in ``table`` matching ``where``."""
        query = self.select(n=count()).from_(table).where(where)
        return self._fetch(query.compile(), None, _count)

    @overload
    def execute(self: Session[Sync], statement: Expr[Any] | Query[Any, Any]) -> Result: ...
    @overload
    def execute(
        self: Session[Async], statement: Expr[Any] | Query[Any, Any]
    ) -> Coroutine[Any, Any, Result]: ...
    def execute(self, statement: Expr[Any] | Query[Any, Any]) -> Any:
        """Run raw SQL (``sql(...)``) or a built query at once; a :class:`Result`.

        >>> db.execute(sql("SELECT {n}::int AS n", n=1)).one().n
        1
        """
        if isinstance(statement, Query):
            try:
                maker = statement._maker()
            except QueryError:
                maker = None  # a write without RETURNING: no rows, only a count
            factory = None if maker is None else maker_factory(maker)
            return self._result(statement.compile(), factory)
        if not isinstance(statement, Expr):
            raise QueryError(f"execute() takes sql(...) or a query, not {type(statement).__name__}")
        return self._result(statement.compile(), _raw_row_factory)

    def _error(self, exc: StatementError, compiled: Compiled | None) -> PgbuildError:
        """The pgbuild error for a failed statement; a transaction also
        remembers it (a block that catches it cannot then commit silently)."""
        error = wrap_error(exc, compiled, self._log_params)
        self._failed(error)
        return error

    def _failed(self, error: PgbuildError) -> None:
        pass

    def _log(self, compiled: Compiled, seconds: float) -> None:
        # The logger is opted into, so it gets the parameters (API.md §3);
        # error messages carry them only with log_params (§5).
        assert self._logger is not None
        if self._logger.isEnabledFor(logging.DEBUG):
            self._logger.debug(
                "%s -- parameters: %r (%.3f ms)",
                compiled.as_string(),
                compiled.params,
                seconds * 1000,
            )


def _count(rows: list[Any], compiled: Compiled) -> int:
    return int(rows[0][0])


# What running a statement may raise: psycopg's errors, and the
# UnicodeEncodeError of a str that UTF-8 cannot hold (a lone surrogate),
# raised while psycopg dumps the parameters.
STATEMENT_ERRORS = (psycopg.Error, UnicodeEncodeError)
StatementError = psycopg.Error | UnicodeEncodeError


def wrap_error(exc: StatementError, compiled: Compiled | None, log_params: bool) -> PgbuildError:
    """A pgbuild error for a psycopg one, naming the table, column, constraint
    and parameter the server reported, and the statement (values only when
    ``log_params``).

    psycopg's own refusals before anything is sent (a NUL byte in a str, a
    str UTF-8 cannot encode, a type it cannot adapt) are :class:`QueryError`;
    serialization failures and deadlocks :class:`SerializationError`;
    constraint violations :class:`IntegrityError`; everything else
    :class:`DatabaseError`.
    """
    if isinstance(exc, UnicodeEncodeError):
        message = (
            "a str value cannot be sent as UTF-8 (it holds a lone surrogate, "
            f"{exc.object[exc.start:exc.end]!r}); nothing was sent to the server"
        )
        if compiled is not None:
            message += f"\nstatement: {compiled.as_string()}"
        return QueryError(message)
    if exc.sqlstate is None and isinstance(exc, _CLIENT_SIDE):
        return _client_error(exc, compiled, log_params)
    diag = exc.diag
    message = server_message(exc)
    if compiled is not None and not log_params:
        message = _redact(message, compiled.params)
    where = [
        f"{label} {value}"
        for label, value in (
            ("table", diag.table_name),
            ("column", diag.column_name),
            ("constraint", diag.constraint_name),
            ("parameter", _parameter(diag.context)),
        )
        if value
    ]
    if where:
        message += f" ({', '.join(where)})"
    statement = compiled.as_string() if compiled is not None else None
    if statement:
        message += f"\nstatement: {statement}"
        if log_params and compiled is not None:
            message += f"\nparameters: {compiled.params!r}"
    return _error_class(exc.sqlstate)(message, statement=statement)


# Raised by psycopg itself, without a SQLSTATE (a server error always has
# one): mostly while adapting the parameters, before anything is sent.
_CLIENT_SIDE = (psycopg.DataError, psycopg.ProgrammingError, psycopg.NotSupportedError)
_RETRYABLE = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
_PARAMETER = re.compile(r"portal (?:\"[^\"]*\" )?parameter (\$\d+)")


def _error_class(sqlstate: str | None) -> type[DatabaseError]:
    if sqlstate is None:
        return DatabaseError
    if sqlstate.startswith("23"):
        return IntegrityError
    if sqlstate in _RETRYABLE:
        return SerializationError
    return DatabaseError


def _parameter(context: str | None) -> str | None:
    """``$3`` when the server says which bound value it could not take
    (``unnamed portal parameter $3 = '...'``, ``portal "c" parameter $3``)."""
    found = _PARAMETER.search(context) if context else None
    return found.group(1) if found else None


def _client_error(exc: psycopg.Error, compiled: Compiled | None, log_params: bool) -> QueryError:
    message = str(exc).strip()
    params = compiled.params if compiled is not None else ()
    nul = [i for i, p in enumerate(params) if isinstance(p, str) and "\x00" in p]
    if "NUL" in message:
        message = (
            "a str value contains a NUL byte (\\x00), which PostgreSQL cannot store in "
            "text; nothing was sent to the server"
        )
        if nul:
            message += f" (parameter ${nul[0] + 1})"
    if compiled is not None:
        message += f"\nstatement: {compiled.as_string()}"
        if log_params:
            message += f"\nparameters: {compiled.params!r}"
    return QueryError(message)


def _redact(message: str, params: Sequence[Any]) -> str:
    """Hide bound values the server quoted back (``invalid input syntax for
    type integer: "..."``): values appear in messages only with log_params."""
    for value in params:
        text = value if isinstance(value, str) else None
        if text is not None and len(text) >= 4 and text in message:
            message = message.replace(text, "<value>")
    return message


def has_rows(cursor: Any) -> bool:
    """Whether the last statement returned rows (``cursor.description`` would
    build column objects just to say so)."""
    result = cursor.pgresult
    return result is not None and result.status == _TUPLES_OK


_TUPLES_OK = int(psycopg.pq.ExecStatus.TUPLES_OK)


def encoding(conn: Any) -> str:
    """The connection's client encoding, as a Python codec name; UTF-8 (what
    pgbuild's pools ask for) is answered from the raw parameter, without
    building a ``conn.info`` object on every statement."""
    if conn.pgconn.parameter_status(b"client_encoding") == b"UTF8":
        return "utf-8"
    return str(conn.info.encoding)
