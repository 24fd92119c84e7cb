"""``WITH``: common table expressions before a select, insert, update or delete.

::

    recent = db.select(Sessions.user_id).from_(Sessions).where(gte(...)).as_("recent")
    in_recent = in_(Users.id, db.select(recent.user_id).from_(recent))
    db.with_(recent).select().from_(Users).where(in_recent).all()
    db.with_(recent).delete(Users).where(not_(in_recent)).execute()

Inside the statement, ``from_(recent)`` (at any depth) refers to the CTE by
name; each CTE may use the ones listed before it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, TypeVar, overload

from pgbuild.errors import QueryError
from pgbuild.expressions import Expr
from pgbuild.queries.base import Executor, M
from pgbuild.queries.delete import Delete
from pgbuild.queries.insert import Insert
from pgbuild.queries.select import On, SelectFields, SelectTables, start_select
from pgbuild.queries.subquery import Subquery
from pgbuild.queries.update import Update
from pgbuild.table import Table

TT = TypeVar("TT", bound=Table)
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")
E = TypeVar("E")
F = TypeVar("F")


def check_ctes(ctes: tuple[Any, ...]) -> tuple[Subquery[Any], ...]:
    """Named queries only, each name once."""
    if not ctes:
        raise QueryError("with_() needs at least one named query: q.as_(\"name\")")
    seen: set[str] = set()
    for cte in ctes:
        if not isinstance(cte, Subquery):
            raise QueryError(
                f"with_() takes named queries (q.as_(\"name\")), not {type(cte).__name__}"
            )
        if cte._name in seen:
            raise QueryError(f"with_(): two CTEs are named {cte._name!r}")
        seen.add(cte._name)
    return ctes


@dataclasses.dataclass(frozen=True, slots=True)
class With(Generic[M]):
    """``db.with_(cte, ...)``: the statement builders, each preceded by ``WITH``."""

    _executor: Executor | None
    _ctes: tuple[Subquery[Any], ...]

    @overload
    def select(self) -> SelectTables[M]: ...
    @overload
    def select(self, a: Expr[A], /) -> SelectFields[tuple[A], M]: ...
    @overload
    def select(self, a: Expr[A], b: Expr[B], /) -> SelectFields[tuple[A, B], M]: ...
    @overload
    def select(
        self, a: Expr[A], b: Expr[B], c: Expr[C], /
    ) -> SelectFields[tuple[A, B, C], M]: ...
    @overload
    def select(
        self, a: Expr[A], b: Expr[B], c: Expr[C], d: Expr[D], /
    ) -> SelectFields[tuple[A, B, C, D], M]: ...
    @overload
    def select(
        self, a: Expr[A], b: Expr[B], c: Expr[C], d: Expr[D], e: Expr[E], /
    ) -> SelectFields[tuple[A, B, C, D, E], M]: ...
    @overload
    def select(
        self, a: Expr[A], b: Expr[B], c: Expr[C], d: Expr[D], e: Expr[E], f: Expr[F], /
    ) -> SelectFields[tuple[A, B, C, D, E, F], M]: ...
    @overload
    def select(self, *fields: Expr[Any]) -> SelectFields[tuple[Any, ...], M]: ...
    @overload
    def select(self, **named: Expr[Any]) -> SelectFields[Any, M]: ...
    def select(self, *fields: Expr[Any], **named: Expr[Any]) -> Any:
        """``WITH ... SELECT``, with the shapes of ``db.select``."""
        return start_select(self._executor, fields, named, ctes=self._ctes)

    @overload
    def select_distinct(self) -> SelectTables[M]: ...
    @overload
    def select_distinct(self, a: Expr[A], /) -> SelectFields[tuple[A], M]: ...
    @overload
    def select_distinct(self, a: Expr[A], b: Expr[B], /) -> SelectFields[tuple[A, B], M]: ...
    @overload
    def select_distinct(
        self, a: Expr[A], b: Expr[B], c: Expr[C], /
    ) -> SelectFields[tuple[A, B, C], M]: ...
    @overload
    def select_distinct(self, *fields: Expr[Any]) -> SelectFields[tuple[Any, ...], M]: ...
    @overload
    def select_distinct(self, **named: Expr[Any]) -> SelectFields[Any, M]: ...
    def select_distinct(self, *fields: Expr[Any], **named: Expr[Any]) -> Any:
        """``WITH ... SELECT DISTINCT``."""
        return start_select(self._executor, fields, named, distinct=True, ctes=self._ctes)

    @overload
    def select_distinct_on(self, on: On, /) -> SelectTables[M]: ...
    @overload
    def select_distinct_on(self, on: On, a: Expr[A], /) -> SelectFields[tuple[A], M]: ...
    @overload
    def select_distinct_on(
        self, on: On, a: Expr[A], b: Expr[B], /
    ) -> SelectFields[tuple[A, B], M]: ...
    @overload
    def select_distinct_on(
        self, on: On, a: Expr[A], b: Expr[B], c: Expr[C], /
    ) -> SelectFields[tuple[A, B, C], M]: ...
    @overload
    def select_distinct_on(
        self, on: On, /, *fields: Expr[Any]
    ) -> SelectFields[tuple[Any, ...], M]: ...
    @overload
    def select_distinct_on(self, on: On, /, **named: Expr[Any]) -> SelectFields[Any, M]: ...
    def select_distinct_on(self, on: On, /, *fields: Expr[Any], **named: Expr[Any]) -> Any:
        """``WITH ... SELECT DISTINCT ON (on) ...``."""
        return start_select(self._executor, fields, named, distinct_on=on, ctes=self._ctes)

    def insert(self, table: type[TT]) -> Insert[TT, M]:
        """``WITH ... INSERT INTO table``."""
        return Insert(self._executor, table, _ctes=self._ctes)

    def update(self, table: type[TT]) -> Update[TT, M]:
        """``WITH ... UPDATE table``."""
        return Update(self._executor, table, _ctes=self._ctes)

    def delete(self, table: type[TT]) -> Delete[TT, M]:
        """``WITH ... DELETE FROM table``."""
        return Delete(self._executor, table, _ctes=self._ctes)
