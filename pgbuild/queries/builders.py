"""The statement builders that ``db``, ``tx`` and ``db.with_(...)`` offer:
one set of factories (and of typing overloads) for all three."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, overload

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


class Builders(Generic[M]):
    """select/insert/update/delete factories. The builders run on
    ``_target()`` and are preceded by the ``_ctes`` (``WITH``), if any."""

    __slots__ = ()
    _ctes: tuple[Subquery[Any], ...] = ()

    def _target(self) -> Executor | None:
        raise NotImplementedError

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
        """``SELECT``: ``select()`` → table rows, ``select(A.x, A.y)`` → tuples,
        ``select(x=..., y=...)`` → named rows.

        >>> db.select().from_(Users).where(eq(Users.id, "u1")).first()
        """
        return start_select(self._target(), fields, named, ctes=self._ctes)

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
        """``SELECT DISTINCT``, with the shapes of :meth:`select`."""
        return start_select(self._target(), fields, named, distinct=True, ctes=self._ctes)

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
        """``SELECT DISTINCT ON (on) ...``: the first row of each group of equal
        ``on`` values, in ``order_by`` order; ``on`` is one expression or a list.

        >>> db.select_distinct_on(Sessions.user_id).from_(Sessions)
        ...   .order_by(Sessions.user_id, desc(Sessions.created_at)).all()
        """
        return start_select(self._target(), fields, named, distinct_on=on, ctes=self._ctes)

    def insert(self, table: type[TT]) -> Insert[TT, M]:
        """``INSERT INTO table``: ``db.insert(Users).values({...}).returning().one()``."""
        return Insert(self._target(), table, _ctes=self._ctes)

    def update(self, table: type[TT]) -> Update[TT, M]:
        """``UPDATE table``: ``db.update(Users).set({...}).where(...)``."""
        return Update(self._target(), table, _ctes=self._ctes)

    def delete(self, table: type[TT]) -> Delete[TT, M]:
        """``DELETE FROM table``: ``db.delete(Sessions).where(...)``."""
        return Delete(self._target(), table, _ctes=self._ctes)
