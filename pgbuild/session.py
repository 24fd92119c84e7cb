"""What ``db`` and ``tx`` both offer: the builders, raw SQL and ``count``.

:class:`Session` holds no connection of its own; :class:`~pgbuild.Database`
borrows one from its pool per statement, a transaction keeps one for its
whole block. Statements run here, errors are wrapped here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar, overload

import psycopg
from psycopg.rows import RowMaker

from pgbuild.errors import (
    DatabaseError,
    IntegrityError,
    MultipleResultsError,
    NoResultError,
    PgbuildError,
    QueryError,
)
from pgbuild.expressions import Compiled, Expr, count
from pgbuild.queries.base import Query
from pgbuild.queries.delete import Delete
from pgbuild.queries.insert import Insert
from pgbuild.queries.select import SelectFields, SelectTables
from pgbuild.queries.update import Update
from pgbuild.rows import Maker, Row
from pgbuild.table import Table

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


class Session:
    """The builders and helpers shared by ``Database`` and transactions."""

    _logger: logging.Logger | None = None
    _log_params: bool = False

    def _connection(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError

    # -- builders

    @overload
    def select(self) -> SelectTables: ...
    @overload
    def select(self, a: Expr[A], /) -> SelectFields[tuple[A]]: ...
    @overload
    def select(self, a: Expr[A], b: Expr[B], /) -> SelectFields[tuple[A, B]]: ...
    @overload
    def select(self, a: Expr[A], b: Expr[B], c: Expr[C], /) -> SelectFields[tuple[A, B, C]]: ...
    @overload
    def select(
        self, a: Expr[A], b: Expr[B], c: Expr[C], d: Expr[D], /
    ) -> SelectFields[tuple[A, B, C, D]]: ...
    @overload
    def select(
        self, a: Expr[A], b: Expr[B], c: Expr[C], d: Expr[D], e: Expr[E], /
    ) -> SelectFields[tuple[A, B, C, D, E]]: ...
    @overload
    def select(
        self, a: Expr[A], b: Expr[B], c: Expr[C], d: Expr[D], e: Expr[E], f: Expr[F], /
    ) -> SelectFields[tuple[A, B, C, D, E, F]]: ...
    @overload
    def select(self, *fields: Expr[Any]) -> SelectFields[tuple[Any, ...]]: ...
    @overload
    def select(self, **named: Expr[Any]) -> SelectFields[Any]: ...
    def select(self, *fields: Expr[Any], **named: Expr[Any]) -> Any:
        """``SELECT``: ``select()`` → table rows, ``select(A.x, A.y)`` → tuples,
        ``select(x=..., y=...)`` → named rows.

        >>> db.select().from_(Users).where(eq(Users.id, "u1")).first()
        """
        return _select(self, fields, named, distinct=False)

    def select_distinct(self, *fields: Expr[Any], **named: Expr[Any]) -> Any:
        """``SELECT DISTINCT``, with the same shapes as :meth:`select`."""
        return _select(self, fields, named, distinct=True)

    def insert(self, table: type[TT]) -> Insert[TT]:
        """``INSERT INTO table``: ``db.insert(Users).values({...}).returning().one()``."""
        return Insert(self, table)

    def update(self, table: type[TT]) -> Update[TT]:
        """``UPDATE table``: ``db.update(Users).set({...}).where(...)``."""
        return Update(self, table)

    def delete(self, table: type[TT]) -> Delete[TT]:
        """``DELETE FROM table``: ``db.delete(Sessions).where(...)``."""
        return Delete(self, table)

    def count(self, table: type[Table], where: Expr[bool] | None = None) -> int:
        """The number of rows in ``table`` matching ``where``."""
        n = self.select(n=count()).from_(table).where(where).scalar()
        return int(n)

    def execute(self, statement: Expr[Any] | Query[Any]) -> Result:
        """Run raw SQL (``sql(...)``) or a built query at once.

        >>> db.execute(sql("SELECT {n}::int AS n", n=1)).one().n
        1
        """
        if isinstance(statement, Query):
            compiled = statement.compile()
            try:
                maker = statement._maker()
            except QueryError:
                maker = None  # a write without RETURNING: no rows, only a count
            rows, rowcount = self._execute(compiled, maker, fetch=maker is not None)
            return Result(rows, rowcount)
        if not isinstance(statement, Expr):
            raise QueryError(f"execute() takes sql(...) or a query, not {type(statement).__name__}")
        compiled = statement.compile()
        rows, rowcount = self._execute(compiled, _raw_row_factory, fetch=True)
        return Result(rows, rowcount)

    # -- running statements (called by the builders' terminal methods)

    def _fetch(self, compiled: Compiled, maker: Maker | None) -> list[Any]:
        return self._execute(compiled, maker, fetch=True)[0]

    def _run(self, compiled: Compiled) -> int:
        return self._execute(compiled, None, fetch=False)[1]

    def _execute(self, compiled: Compiled, maker: Any, *, fetch: bool) -> tuple[list[Any], int]:
        if self._logger is not None:
            self._log(compiled)
        with self._connection() as conn:
            factory = maker if maker is None or maker is _raw_row_factory else _const(maker)
            try:
                cur = conn.cursor(row_factory=factory) if factory else conn.cursor()
                with cur:
                    cur.execute(compiled.sql, compiled.params)
                    rows = cur.fetchall() if fetch and cur.description is not None else []
                    return rows, cur.rowcount
            except psycopg.Error as exc:
                raise wrap_error(exc, compiled, self._log_params) from exc

    def _log(self, compiled: Compiled) -> None:
        # The logger is opted into, so it gets the parameters (API.md §3);
        # error messages carry them only with log_params (§5).
        assert self._logger is not None
        self._logger.info("%s -- parameters: %r", compiled.as_string(), compiled.params)


def _const(maker: Maker) -> Any:
    return lambda _cursor: maker


def _select(
    session: Session, fields: tuple[Expr[Any], ...], named: dict[str, Expr[Any]], *, distinct: bool
) -> Any:
    if fields and named:
        raise QueryError("select(): give columns or keyword fields, not both")
    if named:
        return SelectFields(session, named, distinct)
    if fields:
        return SelectFields(session, fields, distinct)
    return SelectTables(session, distinct)


def wrap_error(exc: psycopg.Error, compiled: Compiled | None, log_params: bool) -> PgbuildError:
    """A pgbuild error for a psycopg one, naming the table, column and
    constraint the server reported, and the statement (values only when
    ``log_params``)."""
    diag = exc.diag
    message = diag.message_primary or str(exc).strip()
    where = [
        f"{label} {value}"
        for label, value in (
            ("table", diag.table_name),
            ("column", diag.column_name),
            ("constraint", diag.constraint_name),
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
    cls = IntegrityError if (exc.sqlstate or "").startswith("23") else DatabaseError
    return cls(message, statement=statement)
