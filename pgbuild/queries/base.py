"""What every query builder shares: compilation and the terminal methods.

Builders are immutable: each method returns a new builder via
:func:`dataclasses.replace`, so a half-built query can be reused safely. A
builder holds the executor that created it (``db`` or ``tx``) and hands it
the compiled statement when a terminal method runs; builders do no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar, overload

from psycopg import sql as pg

from pgbuild.columns import Column
from pgbuild.errors import QueryError
from pgbuild.expressions import Compiled, Expr
from pgbuild.frozen import replacer
from pgbuild.render import Ctx
from pgbuild.rows import Maker, named_maker, table_maker, tuple_maker
from pgbuild.table import Table

if TYPE_CHECKING:
    from pgbuild.queries.prepared import Prepared

R = TypeVar("R")
TT = TypeVar("TT", bound=Table)
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")


class Sync:
    """Mode marker: terminal methods return values (``Database``)."""


class Async:
    """Mode marker: terminal methods return awaitables (``AsyncDatabase``)."""


M = TypeVar("M", Sync, Async)

Finish = Callable[[list[Any], Compiled], Any]


class Executor(Protocol):
    """Runs compiled statements: a database or a transaction, sync or async.

    ``finish`` turns the fetched rows into the terminal method's result; an
    async executor applies it after awaiting, so builders stay I/O-free.
    """

    def _fetch(self, compiled: Compiled, maker: Maker | None, finish: Finish) -> Any: ...
    def _run(self, compiled: Compiled) -> Any: ...
    def _stream(self, compiled: Compiled, maker: Maker | None, batch_size: int) -> Any: ...


def first_row(rows: list[Any], compiled: Compiled) -> Any:
    return rows[0] if rows else None


def first_value(rows: list[Any], compiled: Compiled) -> Any:
    return rows[0][0] if rows else None


def only_row(rows: list[Any], compiled: Compiled) -> Any:
    from pgbuild.errors import MultipleResultsError, NoResultError

    if len(rows) == 1:
        return rows[0]
    text = compiled.as_string()
    if not rows:
        raise NoResultError(f"expected exactly one row, got none, from: {text}")
    raise MultipleResultsError(f"expected exactly one row, got {len(rows)}, from: {text}")


def all_rows(rows: list[Any], compiled: Compiled) -> Any:
    return rows


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


def reads_only(ctes: Sequence[Any]) -> bool:
    """Whether every ``WITH`` query only reads (an insert in a CTE writes)."""
    return all(cte._query._reads_only() for cte in ctes)


@dataclasses.dataclass(frozen=True, slots=True)
class Query(Generic[R, M]):
    """Base of the builders: ``.compile()`` and the terminal methods.

    ``R`` is the row type; ``M`` is :class:`Sync` or :class:`Async`, which
    decides whether a terminal method returns its value or an awaitable.
    """

    _executor: Executor | None = dataclasses.field(repr=False, compare=False)

    def _render_statement(self, ctx: Ctx) -> pg.Composable:
        raise NotImplementedError

    def _maker(self) -> Maker | None:
        """How rows become values; ``None`` means plain tuples."""
        raise NotImplementedError

    def _reads_only(self) -> bool:
        """Whether the statement only reads (replicas may run it)."""
        return False

    def _replace(self, **changes: Any) -> Self:
        key: Any = type(self)  # a class is hashable, whatever its instances are
        return replacer(key)(self, changes)  # type: ignore[no-any-return]

    def compile(self) -> Compiled:
        """The statement as ``.sql`` (a psycopg ``Composed``) and ``.params``."""
        ctx = Ctx()
        return Compiled.of(self._render_statement(ctx), ctx.params, self._reads_only())

    def _exec(self) -> Executor:
        if self._executor is None:
            raise QueryError("this query was built without a database; use db.select(...) etc.")
        return self._executor

    def prepare(self) -> Prepared[R, M]:
        """Compile once; run with placeholder values: ``q.prepare().first(id="u1")``."""
        from pgbuild.queries.prepared import Prepared

        return Prepared(self)

    @overload
    def all(self: Query[R, Sync]) -> list[R]: ...
    @overload
    def all(self: Query[R, Async]) -> Coroutine[Any, Any, list[R]]: ...
    def all(self) -> Any:
        """Every row."""
        return self._exec()._fetch(self.compile(), self._maker(), all_rows)

    @overload
    def first(self: Query[R, Sync]) -> R | None: ...
    @overload
    def first(self: Query[R, Async]) -> Coroutine[Any, Any, R | None]: ...
    def first(self) -> Any:
        """The first row, or ``None``."""
        return self._exec()._fetch(self.compile(), self._maker(), first_row)

    @overload
    def one(self: Query[R, Sync]) -> R: ...
    @overload
    def one(self: Query[R, Async]) -> Coroutine[Any, Any, R]: ...
    def one(self) -> Any:
        """Exactly one row; :class:`NoResultError` or :class:`MultipleResultsError` otherwise."""
        return self._exec()._fetch(self.compile(), self._maker(), only_row)

    @overload
    def scalar(self: Query[R, Sync]) -> Any: ...
    @overload
    def scalar(self: Query[R, Async]) -> Coroutine[Any, Any, Any]: ...
    def scalar(self) -> Any:
        """The first column of the first row, or ``None`` when there is no row."""
        return self._exec()._fetch(self.compile(), None, first_value)

    @overload
    def iter(self: Query[R, Sync], batch_size: int = 1000) -> Iterator[R]: ...
    @overload
    def iter(self: Query[R, Async], batch_size: int = 1000) -> AsyncIterator[R]: ...
    def iter(self, batch_size: int = 1000) -> Any:
        """Stream the rows through a server-side cursor, ``batch_size`` at a
        time, in constant memory: ``for row in q.iter(): ...`` (``async for``
        on an AsyncDatabase). The connection is held until the loop ends."""
        if batch_size < 1:
            raise QueryError("iter(batch_size=...) must be at least 1")
        return self._exec()._stream(self.compile(), self._maker(), batch_size)

    @overload
    def execute(self: Query[R, Sync]) -> int: ...
    @overload
    def execute(self: Query[R, Async]) -> Coroutine[Any, Any, int]: ...
    def execute(self) -> Any:
        """Run the statement; the number of rows it affected or returned."""
        return self._exec()._run(self.compile())


@dataclasses.dataclass(frozen=True, slots=True)
class WriteQuery(Query[TT, M]):
    """Insert, update and delete: a target table and an optional ``RETURNING``."""

    _table: type[TT]
    _returning: Fields | None = None
    _returning_maker: Maker | None = None

    @overload
    def returning(self) -> Query[TT, M]: ...
    @overload
    def returning(self, a: Expr[A], /) -> Query[tuple[A], M]: ...
    @overload
    def returning(self, a: Expr[A], b: Expr[B], /) -> Query[tuple[A, B], M]: ...
    @overload
    def returning(self, a: Expr[A], b: Expr[B], c: Expr[C], /) -> Query[tuple[A, B, C], M]: ...
    @overload
    def returning(
        self, a: Expr[A], b: Expr[B], c: Expr[C], d: Expr[D], /
    ) -> Query[tuple[A, B, C, D], M]: ...
    @overload
    def returning(self, *fields: Expr[Any], **named: Expr[Any]) -> Query[Any, M]: ...
    def returning(self, *fields: Expr[Any], **named: Expr[Any]) -> Any:
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
