"""``SELECT``: ``db.select().from_(Users).where(...).order_by(...).limit(...)``.

Row shapes: ``select()`` of one table gives that table's rows; over joins, a
:class:`~pgbuild.rows.JoinedRow` per result row; ``select(A.x, B.y)`` gives
tuples; ``select(x=..., y=...)`` gives named rows.

A select is also an expression (a scalar subquery, ``in_(col, q)``,
``exists(q)``), a derived table or CTE once named (``q.as_("recent")``), and
an operand of set operations (``q1.union(q2)``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Generic, Literal, NoReturn, TypeVar, overload

from psycopg import sql as pg

from pgbuild.columns import Column
from pgbuild.compiler import order_items, render_select
from pgbuild.errors import QueryError
from pgbuild.expressions import Expr, Labelled, and_
from pgbuild.frozen import fast_init
from pgbuild.queries.base import Executor, Fields, M, Query, _decoder, fields_maker, reads_only
from pgbuild.queries.setops import SetOps
from pgbuild.queries.subquery import AllColumns, Output, Subquery, SubqueryColumn, name_query
from pgbuild.render import Ctx, fmt
from pgbuild.rows import JoinedRow, Maker, joined_maker, table_maker
from pgbuild.table import Table

R = TypeVar("R")
R2 = TypeVar("R2")
TT = TypeVar("TT", bound=Table)

JoinKind = Literal["INNER", "LEFT", "RIGHT", "FULL", "CROSS"]
LockStrength = Literal["update", "no key update", "share", "key share"]
_STRENGTHS = ("update", "no key update", "share", "key share")
Source = type[Table] | Subquery[Any]


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class Join:
    kind: JoinKind
    source: Any
    on: Expr[bool] | None
    lateral: bool = False


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class Lock:
    """A row-locking clause: ``FOR <strength> [OF ...] [NOWAIT | SKIP LOCKED]``."""

    strength: LockStrength
    of: tuple[Source, ...] = ()
    nowait: bool = False
    skip_locked: bool = False


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class Select(SetOps[R, M], Query[R, M], Expr[Any]):
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
    _distinct_on: tuple[Expr[Any], ...] = ()
    _ctes: tuple[Subquery[Any], ...] = ()
    _locks: tuple[Lock, ...] = ()

    # -- building

    def where(self, condition: Expr[bool] | None) -> Select[R, M]:
        """Filter rows; calling it again ANDs the conditions. ``None`` is no filter."""
        if condition is None:
            return self
        where = condition if self._where is None else and_(self._where, condition)
        return self._replace(_where=where)

    def _join(
        self, kind: JoinKind, source: Any, on: Expr[bool] | None, lateral: bool = False
    ) -> Any:
        if self._from is None:
            raise QueryError("join before from_(): call .from_(table) first")
        if lateral and isinstance(source, type):
            raise QueryError(
                f"{kind.lower()}_join_lateral: {source.__name__} is a table; "
                "LATERAL takes a subquery, e.g. db.select(...).from_(...).as_(\"x\")"
            )
        return self._replace(_joins=(*self._joins, Join(kind, source, on, lateral)))

    @overload
    def inner_join(self: Select[TT, M], source: Source, on: Expr[bool]) -> Select[JoinedRow, M]: ...
    @overload
    def inner_join(self, source: Any, on: Expr[bool]) -> Select[R, M]: ...
    def inner_join(self, source: Any, on: Expr[bool]) -> Any:
        """``INNER JOIN source ON on``; ``source`` is a table, an alias or a subquery."""
        return self._join("INNER", source, on)

    @overload
    def left_join(self: Select[TT, M], source: Source, on: Expr[bool]) -> Select[JoinedRow, M]: ...
    @overload
    def left_join(self, source: Any, on: Expr[bool]) -> Select[R, M]: ...
    def left_join(self, source: Any, on: Expr[bool]) -> Any:
        """``LEFT JOIN source ON on``; unmatched tables come back as ``None``."""
        return self._join("LEFT", source, on)

    @overload
    def right_join(self: Select[TT, M], source: Source, on: Expr[bool]) -> Select[JoinedRow, M]: ...
    @overload
    def right_join(self, source: Any, on: Expr[bool]) -> Select[R, M]: ...
    def right_join(self, source: Any, on: Expr[bool]) -> Any:
        """``RIGHT JOIN source ON on``."""
        return self._join("RIGHT", source, on)

    @overload
    def full_join(self: Select[TT, M], source: Source, on: Expr[bool]) -> Select[JoinedRow, M]: ...
    @overload
    def full_join(self, source: Any, on: Expr[bool]) -> Select[R, M]: ...
    def full_join(self, source: Any, on: Expr[bool]) -> Any:
        """``FULL JOIN source ON on``."""
        return self._join("FULL", source, on)

    @overload
    def cross_join(self: Select[TT, M], source: Source) -> Select[JoinedRow, M]: ...
    @overload
    def cross_join(self, source: Any) -> Select[R, M]: ...
    def cross_join(self, source: Any) -> Any:
        """``CROSS JOIN source``."""
        return self._join("CROSS", source, None)

    @overload
    def left_join_lateral(
        self: Select[TT, M], source: Subquery[Any], on: Expr[bool] | None = None
    ) -> Select[JoinedRow, M]: ...
    @overload
    def left_join_lateral(
        self, source: Subquery[Any], on: Expr[bool] | None = None
    ) -> Select[R, M]: ...
    def left_join_lateral(self, source: Subquery[Any], on: Expr[bool] | None = None) -> Any:
        """``LEFT JOIN LATERAL (subquery) AS "x" ON on`` (``ON true`` without ``on``):
        the subquery may refer to the tables before it, once per row::

            latest = (db.select(Sessions.id).from_(Sessions)
                      .where(eq(Sessions.user_id, Users.id)).limit(1).as_("latest"))
            db.select().from_(Users).left_join_lateral(latest).all()
        """
        return self._join("LEFT", source, on, lateral=True)

    @overload
    def inner_join_lateral(
        self: Select[TT, M], source: Subquery[Any], on: Expr[bool] | None = None
    ) -> Select[JoinedRow, M]: ...
    @overload
    def inner_join_lateral(
        self, source: Subquery[Any], on: Expr[bool] | None = None
    ) -> Select[R, M]: ...
    def inner_join_lateral(self, source: Subquery[Any], on: Expr[bool] | None = None) -> Any:
        """``INNER JOIN LATERAL (subquery) AS "x" ON on`` (``ON true`` without ``on``):
        rows for which the subquery finds nothing are dropped."""
        return self._join("INNER", source, on, lateral=True)

    @overload
    def cross_join_lateral(self: Select[TT, M], source: Subquery[Any]) -> Select[JoinedRow, M]: ...
    @overload
    def cross_join_lateral(self, source: Subquery[Any]) -> Select[R, M]: ...
    def cross_join_lateral(self, source: Subquery[Any]) -> Any:
        """``CROSS JOIN LATERAL (subquery) AS "x"``."""
        return self._join("CROSS", source, None, lateral=True)

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

    # -- row locks

    def for_(
        self,
        strength: LockStrength,
        *,
        of: Source | Sequence[Source] | None = None,
        nowait: bool = False,
        skip_locked: bool = False,
    ) -> Select[R, M]:
        """Lock the selected rows: ``FOR UPDATE | NO KEY UPDATE | SHARE | KEY SHARE``.

        ``of`` limits the lock to some of the tables (or aliases); ``nowait``
        fails at once on a locked row (SQLSTATE 55P03), ``skip_locked``
        leaves locked rows out — a job queue's ``for_update(skip_locked=True)``.
        Calling it again adds another locking clause.
        """
        if strength not in _STRENGTHS:
            raise QueryError(f"for_(): unknown lock strength {strength!r}; one of {_STRENGTHS}")
        if nowait and skip_locked:
            raise QueryError("for_(): give nowait=True or skip_locked=True, not both")
        if of is None:
            tables: tuple[Source, ...] = ()
        elif isinstance(of, type | Subquery | str):
            tables = (of,)  # a str is refused just below
        else:
            tables = tuple(of)
        for t in tables:
            if not (isinstance(t, Subquery) or (isinstance(t, type) and issubclass(t, Table))):
                raise QueryError(f"for_(of=...): {t!r} is not a table, alias or subquery")
        lock = Lock(strength, tables, nowait, skip_locked)
        return self._replace(_locks=(*self._locks, lock))

    def for_update(
        self,
        *,
        of: Source | Sequence[Source] | None = None,
        nowait: bool = False,
        skip_locked: bool = False,
    ) -> Select[R, M]:
        """``FOR UPDATE``: ``.where(eq(Jobs.id, j)).for_update(skip_locked=True)``."""
        return self.for_("update", of=of, nowait=nowait, skip_locked=skip_locked)

    def for_share(
        self,
        *,
        of: Source | Sequence[Source] | None = None,
        nowait: bool = False,
        skip_locked: bool = False,
    ) -> Select[R, M]:
        """``FOR SHARE``: other transactions may read-lock, not change, the rows."""
        return self.for_("share", of=of, nowait=nowait, skip_locked=skip_locked)

    # -- naming

    def as_(self, name: str) -> Subquery[R]:  # type: ignore[override]
        """Name this query: a derived table in ``from_``/joins, a CTE in
        ``db.with_(...)``. (On a select, ``as_`` names the query, not a column.)

        >>> recent = db.select(Sessions.user_id).from_(Sessions).as_("recent")
        >>> db.select(recent.user_id).from_(recent).all()
        """
        return name_query(self, name)

    # -- compiling

    def _sources(self) -> list[Source]:
        sources = [self._from, *(j.source for j in self._joins)] if self._joins else [self._from]
        return [s for s in sources if isinstance(s, Subquery) or _is_table(s)]

    def _selected(self) -> Fields:
        if self._fields is not None:
            return self._fields
        sources = self._sources()
        if not sources:
            raise QueryError("select() with no fields needs a table in from_()")
        return tuple(
            f
            for s in sources
            for f in (s.__table__.columns if isinstance(s, type) else (AllColumns(s),))
        )

    def _outputs(self) -> list[Output]:
        if self._fields is None:
            return [
                o
                for s in self._sources()
                for o in (_table_outputs(s) if isinstance(s, type) else s._query._outputs())
            ]
        if isinstance(self._fields, dict):
            return [Output(k, k, _decoder(e)) for k, e in self._fields.items()]
        return [_field_output(e) for e in self._fields]

    def _maker(self) -> Maker | None:
        if self._fields is not None:
            return fields_maker(self._fields)
        if not self._joins:
            return _part(self._from)[0]
        return _joined_maker(self._sources())

    def _render_statement(self, ctx: Ctx) -> pg.Composable:
        return render_select(self, ctx)

    def _reads_only(self) -> bool:
        # Row locks write (and a standby refuses them); so does a CTE that writes.
        return not self._locks and (not self._ctes or reads_only(self._ctes))

    def _render(self, ctx: Ctx) -> pg.Composable:
        return fmt("({})", render_select(self, ctx))


def _table_outputs(table: type[Table]) -> list[Output]:
    return [Output(c.db_name, c.attr, _decoder(c)) for c in table.__table__.columns]


def _field_output(expr: Expr[Any]) -> Output:
    if isinstance(expr, Column):
        return Output(expr.db_name, expr.attr, _decoder(expr))
    if isinstance(expr, Labelled):
        return Output(expr.label, expr.label, _decoder(expr.item))
    if isinstance(expr, SubqueryColumn):
        return Output(expr.column, expr.column, expr.decoder)
    return Output(None, None, _decoder(expr))


def _is_table(source: Any) -> bool:
    return isinstance(source, type) and issubclass(source, Table)


def _part(source: Source) -> tuple[Maker | None, int, list[int]]:
    """How one source of a whole-row select becomes a value: its maker, its
    width, and the positions that are all NULL when an outer join missed it."""
    if isinstance(source, Subquery):
        width = source._width()
        return source._query._maker(), width, list(range(width))
    key: Any = source  # a class is hashable, whatever its instances are
    return _table_part(key)


@lru_cache(maxsize=1024)
def _table_part(table: Any) -> tuple[Maker | None, int, list[int]]:
    columns = table.__table__.columns
    # An alias's rows are rows of the aliased table.
    make = table_maker(table.__row_class__, columns)
    keys = table.__table__.primary_key or columns
    return make, len(columns), [columns.index(c) for c in keys]


def _joined_maker(sources: Sequence[Source]) -> Maker:
    return joined_maker([(s.__alias__, *_part(s)) for s in sources])


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class SelectTables(Generic[M]):
    """``db.select()`` before ``.from_()``: rows will be whole table rows."""

    _executor: Executor | None
    _distinct: bool = False
    _distinct_on: tuple[Expr[Any], ...] = ()
    _ctes: tuple[Subquery[Any], ...] = ()

    if not TYPE_CHECKING:  # at runtime only: to a type checker the method is simply missing

        def __getattr__(self, name: str) -> NoReturn:
            _needs_from(name)

    @overload
    def from_(self, source: type[TT]) -> Select[TT, M]: ...
    @overload
    def from_(self, source: Subquery[R2]) -> Select[R2, M]: ...
    def from_(self, source: Any) -> Any:
        """``FROM source``: a table, an alias, or a named subquery (rows of its shape)."""
        return Select(
            self._executor,
            _from=source,
            _distinct=self._distinct,
            _distinct_on=self._distinct_on,
            _ctes=self._ctes,
        )


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class SelectFields(Generic[R, M]):
    """``db.select(fields...)`` before ``.from_()``."""

    _executor: Executor | None
    _fields: Fields
    _distinct: bool = False
    _distinct_on: tuple[Expr[Any], ...] = ()
    _ctes: tuple[Subquery[Any], ...] = ()

    if not TYPE_CHECKING:  # at runtime only: to a type checker the method is simply missing

        def __getattr__(self, name: str) -> NoReturn:
            _needs_from(name)

    def from_(self, source: Any) -> Select[R, M]:
        """``FROM source``: a table, an alias, or a named subquery."""
        return Select(
            self._executor,
            _fields=self._fields,
            _from=source,
            _distinct=self._distinct,
            _distinct_on=self._distinct_on,
            _ctes=self._ctes,
        )


def _needs_from(name: str) -> NoReturn:
    if name.startswith("_"):
        raise AttributeError(name)
    raise QueryError(f"select(...).{name}(): call .from_(table) first")


On = Expr[Any] | Sequence[Expr[Any]]


def start_select(
    executor: Executor | None,
    fields: tuple[Expr[Any], ...],
    named: dict[str, Expr[Any]],
    *,
    distinct: bool = False,
    distinct_on: On | None = None,
    ctes: tuple[Subquery[Any], ...] = (),
) -> SelectTables[Any] | SelectFields[Any, Any]:
    """The builder ``select``/``select_distinct``/``select_distinct_on`` return."""
    if fields and named:
        raise QueryError("select(): give columns or keyword fields, not both")
    on: tuple[Expr[Any], ...] = ()
    if distinct_on is not None:
        on = (distinct_on,) if isinstance(distinct_on, Expr) else tuple(distinct_on)
        if not on:
            raise QueryError("select_distinct_on(): give at least one expression to be distinct on")
    chosen: Fields | None = named or fields or None
    if chosen is None:
        return SelectTables(executor, distinct, on, ctes)
    return SelectFields(executor, chosen, distinct, on, ctes)
