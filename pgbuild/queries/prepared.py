"""Prepared queries: compile once, run many times with placeholder values.

::

    by_id = db.select().from_(Users).where(eq(Users.id, placeholder("id"))).prepare()
    by_id.first(id="user_1")
    by_id.first(id="user_2")     # same SQL text, the server's prepared statement

The statement is compiled once; each run only fills the placeholders' slots
in the parameter list and asks psycopg to use a server-side prepared
statement for it.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from pgbuild.errors import QueryError
from pgbuild.expressions import Compiled, Slot
from pgbuild.queries.base import (
    Async,
    Executor,
    Finish,
    M,
    Sync,
    all_rows,
    first_row,
    first_value,
    only_row,
)

if TYPE_CHECKING:
    from pgbuild.queries.base import Query

R = TypeVar("R")


class Prepared(Generic[R, M]):
    """A compiled query whose terminal methods take the placeholder values."""

    __slots__ = ("_compiled", "_executor", "_fills", "_maker", "_names", "_no_rows")

    def __init__(self, query: Query[R, M]) -> None:
        self._executor: Executor = query._exec()
        self._compiled = compiled = query.compile()
        self._no_rows: QueryError | None = None
        self._maker = None
        try:
            self._maker = query._maker()
        except QueryError as exc:
            self._no_rows = exc  # a write without RETURNING: only execute() applies
        # (position, name, how to dump the value or None): decided once, not per run.
        self._fills = [
            (i, p.name, p.fill if p.column is None or p.column.needs_dump else None)
            for i, p in enumerate(compiled.params)
            if isinstance(p, Slot)
        ]
        self._names = frozenset(name for _, name, _ in self._fills)

    @property
    def placeholders(self) -> frozenset[str]:
        """The names this query needs."""
        return self._names

    @property
    def compiled(self) -> Compiled:
        """The statement, compiled once; placeholders are :class:`Slot` params."""
        return self._compiled

    def _bind(self, values: dict[str, Any]) -> Compiled:
        if values.keys() != self._names:
            raise self._mismatch(values)
        params = list(self._compiled.params)
        for i, name, fill in self._fills:
            value = values[name]
            params[i] = value if fill is None else fill(value)
        compiled = self._compiled
        return Compiled(compiled.sql, tuple(params), True, compiled._utf8, compiled.read)

    def _mismatch(self, values: dict[str, Any]) -> QueryError:
        problems = []
        if missing := self._names - values.keys():
            problems.append(f"missing placeholder values: {sorted(missing)}")
        if unknown := values.keys() - self._names:
            problems.append(f"unknown placeholders: {sorted(unknown)}")
        return QueryError("; ".join(problems) + f" (this query takes {sorted(self._names)})")

    def _go(self, finish: Finish, values: dict[str, Any]) -> Any:
        if self._no_rows is not None:
            raise self._no_rows
        maker = self._maker if finish is not first_value else None
        return self._executor._fetch(self._bind(values), maker, finish)

    @overload
    def all(self: Prepared[R, Sync], **values: Any) -> list[R]: ...
    @overload
    def all(self: Prepared[R, Async], **values: Any) -> Coroutine[Any, Any, list[R]]: ...
    def all(self, **values: Any) -> Any:
        """Every row."""
        return self._go(all_rows, values)

    @overload
    def first(self: Prepared[R, Sync], **values: Any) -> R | None: ...
    @overload
    def first(self: Prepared[R, Async], **values: Any) -> Coroutine[Any, Any, R | None]: ...
    def first(self, **values: Any) -> Any:
        """The first row, or ``None``."""
        return self._go(first_row, values)

    @overload
    def one(self: Prepared[R, Sync], **values: Any) -> R: ...
    @overload
    def one(self: Prepared[R, Async], **values: Any) -> Coroutine[Any, Any, R]: ...
    def one(self, **values: Any) -> Any:
        """Exactly one row."""
        return self._go(only_row, values)

    @overload
    def scalar(self: Prepared[R, Sync], **values: Any) -> Any: ...
    @overload
    def scalar(self: Prepared[R, Async], **values: Any) -> Coroutine[Any, Any, Any]: ...
    def scalar(self, **values: Any) -> Any:
        """The first column of the first row, or ``None``."""
        return self._go(first_value, values)

    @overload
    def execute(self: Prepared[R, Sync], **values: Any) -> int: ...
    @overload
    def execute(self: Prepared[R, Async], **values: Any) -> Coroutine[Any, Any, int]: ...
    def execute(self, **values: Any) -> Any:
        """Run it; the number of rows affected."""
        return self._executor._run(self._bind(values))
