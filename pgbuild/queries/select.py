"""``SELECT``: ``db.select().from_(Users).where(...).order_by(...).limit(...)``.

Row shapes: ``select()`` of one table gives that table's rows; over joins, a
:class:`~pgbuild.rows.JoinedRow` per result row; ``select(A.x, B.y)`` gives
tuples; ``select(x=..., y=...)`` gives named rows.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, Literal, TypeVar, overload

from psycopg import sql as pg

from pgbuild.compiler import order_items, render_select
from pgbuild.errors import QueryError
from pgbuild.expressions import Expr, and_
from pgbuild.queries.base import Executor, Fields, M, Query, fields_maker
from pgbuild.render import Ctx
from pgbuild.rows import JoinedRow, Maker, joined_maker, table_maker
from pgbuild.table import Table

R = TypeVar("R")
TT = TypeVar("TT", bound=Table)

JoinKind = Literal["INNER", "LEFT", "RIGHT", "FULL", "CROSS"]


@dataclasses.dataclass(frozen=True, slots=True)
class Join:
    kind: JoinKind
    source: Any
    on: Expr[bool] | None


@dataclasses.dataclass(frozen=True, slots=True)
class Select(Query[R, M], Expr[Any]):
    """An immutable ``SELECT`` builder; also usable as a subquery expression."""

    _fields: Fields | None = None
    _from: Any = None
    _joins: tuple[Join, ...] = ()
    _where: Expr[bool] | None = None
    _group_by: tuple[Expr[Any], ...] = ()
    _having: Expr[bool] | None = None
    _order_by: tuple[Expr[Any], ...] = ()
    _limit: Any = None
    _offset: Any = None
    _distinct: bool = False

    # -- building

    def where(self, condition: Expr[bool] | None) -> Select[R, M]:
        """Filter rows; calling it again ANDs the conditions. ``None`` is no filter."""
        if condition is None:
            return self
        where = condition if self._where is None else and_(self._where, condition)
        return self._replace(_where=where)

    def _join(self, kind: JoinKind, source: Any, on: Expr[bool] | None) -> Any:
        if self._from is None:
            raise QueryError("join before from_(): call .from_(table) first")
        return self._replace(_joins=(*self._joins, Join(kind, source, on)))

    @overload
    def inner_join(self: Select[TT, M], source: type[Table], on: Expr[bool]) -> Select[JoinedRow, M]: ...
    @overload
    def inner_join(self, source: Any, on: Expr[bool]) -> Select[R, M]: ...
    def inner_join(self, source: Any, on: Expr[bool]) -> Any:
        """``INNER JOIN source ON on``."""
        return self._join("INNER", source, on)

    @overload
    def left_join(self: Select[TT, M], source: type[Table], on: Expr[bool]) -> Select[JoinedRow, M]: ...
    @overload
    def left_join(self, source: Any, on: Expr[bool]) -> Select[R, M]: ...
    def left_join(self, source: Any, on: Expr[bool]) -> Any:
        """``LEFT JOIN source ON on``; unmatched tables come back as ``None``."""
        return self._join("LEFT", source, on)

    @overload
    def right_join(self: Select[TT, M], source: type[Table], on: Expr[bool]) -> Select[JoinedRow, M]: ...
    @overload
    def right_join(self, source: Any, on: Expr[bool]) -> Select[R, M]: ...
    def right_join(self, source: Any, on: Expr[bool]) -> Any:
        """``RIGHT JOIN source ON on``."""
        return self._join("RIGHT", source, on)

    @overload
    def full_join(self: Select[TT, M], source: type[Table], on: Expr[bool]) -> Select[JoinedRow, M]: ...
    @overload
    def full_join(self, source: Any, on: Expr[bool]) -> Select[R, M]: ...
    def full_join(self, source: Any, on: Expr[bool]) -> Any:
        """``FULL JOIN source ON on``."""
        return self._join("FULL", source, on)

    @overload
    def cross_join(self: Select[TT, M], source: type[Table]) -> Select[JoinedRow, M]: ...
    @overload
    def cross_join(self, source: Any) -> Select[R, M]: ...
    def cross_join(self, source: Any) -> Any:
        """``CROSS JOIN source``."""
        return self._join("CROSS", source, None)

    def group_by(self, *items: Expr[Any]) -> Select[R, M]:
        """``GROUP BY items``."""
        return self._replace(_group_by=(*self._group_by, *items))

    def having(self, condition: Expr[bool]) -> Select[R, M]:
        """``HAVING condition``; calling it again ANDs the conditions."""
        having = condition if self._having is None else and_(self._having, condition)
        return self._replace(_having=having)

    def order_by(self, *items: Expr[Any]) -> Select[R, M]:
        """``ORDER BY``: columns (ascending) or ``asc(...)`` / ``desc(...)`` items."""
        return self._replace(_order_by=(*self._order_by, *order_items(items)))

    def limit(self, n: int | Expr[int] | None) -> Select[R, M]:
        """``LIMIT n`` (a bound parameter, so pages share one statement)."""
        return self._replace(_limit=n)

    def offset(self, n: int | Expr[int] | None) -> Select[R, M]:
        """``OFFSET n``."""
        return self._replace(_offset=n)

    # -- compiling

    def _tables(self) -> list[type[Table]]:
        sources = [self._from, *(j.source for j in self._joins)]
        return [s for s in sources if isinstance(s, type) and issubclass(s, Table)]

    def _selected(self) -> Fields:
        if self._fields is not None:
            return self._fields
        tables = self._tables()
        if not tables:
            raise QueryError("select() with no fields needs a table in from_()")
        return tuple(c for t in tables for c in t.__table__.columns)

    def _maker(self) -> Maker | None:
        if self._fields is not None:
            return fields_maker(self._fields)
        tables = self._tables()
        if not self._joins:
            return table_maker(tables[0], tables[0].__table__.columns)
        return joined_maker([(t.__alias__, t, t.__table__.columns) for t in tables])

    def _render_statement(self, ctx: Ctx) -> pg.Composable:
        return render_select(self, ctx)

    def _render(self, ctx: Ctx) -> pg.Composable:
        return pg.SQL("({})").format(render_select(self, ctx))


@dataclasses.dataclass(frozen=True, slots=True)
class SelectTables(Generic[M]):
    """``db.select()`` before ``.from_()``: rows will be whole table rows."""

    _executor: Executor | None
    _distinct: bool = False

    def from_(self, table: type[TT]) -> Select[TT, M]:
        """``FROM table``."""
        return Select(self._executor, _from=table, _distinct=self._distinct)


@dataclasses.dataclass(frozen=True, slots=True)
class SelectFields(Generic[R, M]):
    """``db.select(fields...)`` before ``.from_()``."""

    _executor: Executor | None
    _fields: Fields
    _distinct: bool = False

    def from_(self, source: Any) -> Select[R, M]:
        """``FROM source`` (a table)."""
        return Select(self._executor, _fields=self._fields, _from=source, _distinct=self._distinct)
