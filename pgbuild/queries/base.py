"""What every query builder shares: compilation and the terminal methods.

Builders are immutable: each method returns a new builder via
:func:`dataclasses.replace`, so a half-built query can be reused safely. A
builder holds the executor that created it (``db`` or ``tx``) and hands it
the compiled statement when a terminal method runs; builders do no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Generic, Protocol, Self, TypeVar, overload

from psycopg import sql as pg

from pgbuild.columns import Column
from pgbuild.errors import QueryError
from pgbuild.expressions import Compiled, Expr
from pgbuild.render import Ctx
from pgbuild.rows import Maker, named_maker, table_maker, tuple_maker
from pgbuild.table import Table

R = TypeVar("R")
TT = TypeVar("TT", bound=Table)
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")


class Executor(Protocol):
    """Runs compiled statements: a ``Database`` or a transaction."""

    def _fetch(self, compiled: Compiled, maker: Maker | None) -> list[Any]: ...
    def _run(self, compiled: Compiled) -> int: ...


Fields = tuple[Expr[Any], ...] | dict[str, Expr[Any]]


def fields_maker(fields: Fields) -> Maker | None:
    """Tuples for positional fields, named rows for keyword fields."""
    if isinstance(fields, dict):
        return named_maker(list(fields), [_decoder(e) for e in fields.values()])
    if any(getattr(e, "decoder", None) is not None for e in fields):
        decoders = [_decoder(e) for e in fields]

        def make(values: Sequence[Any]) -> Any:
            return tuple(d(v) if d else v for d, v in zip(decoders, values, strict=True))

        return make
    return tuple_maker([e if isinstance(e, Column) else None for e in fields])


def _decoder(expr: Expr[Any]) -> Any:
    if isinstance(expr, Column) and expr.needs_load:
        return expr.load
    return getattr(expr, "decoder", None)


def whole_table(table: type[Table]) -> tuple[tuple[Expr[Any], ...], Maker]:
    columns = table.__table__.columns
    return columns, table_maker(table, columns)


@dataclasses.dataclass(frozen=True, slots=True)
class Query(Generic[R]):
    """Base of the builders: ``.compile()`` and the terminal methods."""

    _executor: Executor | None = dataclasses.field(repr=False, compare=False)

    def _render_statement(self, ctx: Ctx) -> pg.Composable:
        raise NotImplementedError

    def _maker(self) -> Maker | None:
        """How rows become values; ``None`` means plain tuples."""
        raise NotImplementedError

    def _replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)

    def compile(self) -> Compiled:
        """The statement as ``.sql`` (a psycopg ``Composed``) and ``.params``."""
        ctx = Ctx()
        return Compiled.of(self._render_statement(ctx), ctx.params)

    def _exec(self) -> Executor:
        if self._executor is None:
            raise QueryError("this query was built without a database; use db.select(...) etc.")
        return self._executor

    def all(self) -> list[R]:
        """Every row."""
        return self._exec()._fetch(self.compile(), self._maker())

    def first(self) -> R | None:
        """The first row, or ``None``."""
        rows = self.all()
        return rows[0] if rows else None

    def one(self) -> R:
        """Exactly one row; :class:`NoResultError` or :class:`MultipleResultsError` otherwise."""
        from pgbuild.errors import MultipleResultsError, NoResultError

        rows = self.all()
        if len(rows) == 1:
            return rows[0]
        text = self.compile().as_string()
        if not rows:
            raise NoResultError(f"expected exactly one row, got none, from: {text}")
        raise MultipleResultsError(f"expected exactly one row, got {len(rows)}, from: {text}")

    def scalar(self) -> Any:
        """The first column of the first row, or ``None`` when there is no row."""
        rows = self._exec()._fetch(self.compile(), None)
        return rows[0][0] if rows else None

    def execute(self) -> int:
        """Run the statement; the number of rows it affected or returned."""
        return self._exec()._run(self.compile())


@dataclasses.dataclass(frozen=True, slots=True)
class WriteQuery(Query[TT]):
    """Insert, update and delete: a target table and an optional ``RETURNING``."""

    _table: type[TT]
    _returning: Fields | None = None
    _returning_maker: Maker | None = None

    @overload
    def returning(self) -> Query[TT]: ...
    @overload
    def returning(self, a: Expr[A], /) -> Query[tuple[A]]: ...
    @overload
    def returning(self, a: Expr[A], b: Expr[B], /) -> Query[tuple[A, B]]: ...
    @overload
    def returning(self, a: Expr[A], b: Expr[B], c: Expr[C], /) -> Query[tuple[A, B, C]]: ...
    @overload
    def returning(
        self, a: Expr[A], b: Expr[B], c: Expr[C], d: Expr[D], /
    ) -> Query[tuple[A, B, C, D]]: ...
    @overload
    def returning(self, *fields: Expr[Any], **named: Expr[Any]) -> Query[Any]: ...
    def returning(self, *fields: Expr[Any], **named: Expr[Any]) -> Query[Any]:
        """``RETURNING``: no argument → table rows; columns → tuples; keywords → named rows."""
        if fields and named:
            raise QueryError("returning(): give columns or keyword fields, not both")
        chosen: Fields
        if named:
            chosen, maker = named, fields_maker(named)
        elif fields:
            chosen, maker = fields, fields_maker(fields)
        else:
            chosen, maker = whole_table(self._table)
        return self._replace(_returning=chosen, _returning_maker=maker)

    def _maker(self) -> Maker | None:
        if self._returning is None:
            raise QueryError(
                f"{self._verb()} {self._table.__table__.name}: call .returning() to get rows, "
                "or .execute() for the row count"
            )
        return self._returning_maker

    def _verb(self) -> str:
        raise NotImplementedError
