"""Set operations: ``UNION``, ``INTERSECT`` and ``EXCEPT`` (and their ``ALL`` forms).

::

    ids = db.select(Users.id).from_(Users).union(db.select(Sessions.user_id).from_(Sessions))
    ids.order_by(Users.id).limit(10).all()          # ORDER BY/LIMIT of the whole compound
    union(q1, q2, q3).all()                          # the function form

Rows keep the first query's shape. ``order_by`` after a set operation names
the result's columns, so a column orders by its name (``ORDER BY "id"``).
Chained operations apply left to right: ``a.union(b).intersect(c)`` is
``(a UNION b) INTERSECT c``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypeVar

from psycopg import sql as pg

from pgbuild.compiler import order_items, render_compound
from pgbuild.errors import QueryError
from pgbuild.expressions import Expr
from pgbuild.frozen import fast_init
from pgbuild.queries.base import M, Query, reads_only
from pgbuild.queries.subquery import Output, Subquery, name_query
from pgbuild.render import Ctx, fmt
from pgbuild.rows import Maker

if TYPE_CHECKING:
    from pgbuild.queries.select import Select

R = TypeVar("R")

SetOp = Literal["union", "union all", "intersect", "intersect all", "except", "except all"]
SetOperand: TypeAlias = "Select[Any, Any] | Compound[Any, Any]"


class SetOps(Generic[R, M]):
    """The set-operation methods a select and a compound share."""

    __slots__ = ()

    def union(self, other: SetOperand) -> Compound[R, M]:
        """``self UNION other``: rows of either, duplicates removed."""
        return _combine(self, "union", other)

    def union_all(self, other: SetOperand) -> Compound[R, M]:
        """``self UNION ALL other``: rows of both, duplicates kept."""
        return _combine(self, "union all", other)

    def intersect(self, other: SetOperand) -> Compound[R, M]:
        """``self INTERSECT other``: rows in both."""
        return _combine(self, "intersect", other)

    def intersect_all(self, other: SetOperand) -> Compound[R, M]:
        """``self INTERSECT ALL other``."""
        return _combine(self, "intersect all", other)

    def except_(self, other: SetOperand) -> Compound[R, M]:
        """``self EXCEPT other``: rows of ``self`` not in ``other``."""
        return _combine(self, "except", other)

    def except_all(self, other: SetOperand) -> Compound[R, M]:
        """``self EXCEPT ALL other``."""
        return _combine(self, "except all", other)


def _combine(left: Any, op: SetOp, right: Any) -> Compound[Any, Any]:
    from pgbuild.queries.select import Select

    if not isinstance(right, Select | Compound):
        raise QueryError(f"{op}: expected a select or a set operation, not {type(right).__name__}")
    if right._ctes:
        raise QueryError(
            f"{op}: the right-hand query has its own WITH; put the CTEs on the left-hand "
            "query (db.with_(...)) so that the whole compound sees them"
        )
    # CTEs of the left-most query move up to the compound: every member can see them.
    ctes = left._ctes
    if ctes:
        left = left._replace(_ctes=())
    return Compound(left._executor, left, op, right, ctes)


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class Compound(SetOps[R, M], Query[R, M], Expr[Any]):
    """Two queries combined by a set operation; a query in its own right
    (terminal methods, ``order_by``/``limit``/``offset`` over the whole
    result, ``as_``, usable as a subquery)."""

    _left: Any
    _op: SetOp
    _right: Any
    _ctes: tuple[Subquery[Any], ...] = ()
    _order_by: tuple[Expr[Any], ...] = ()
    _limit: Any = None
    _offset: Any = None

    def order_by(self, *items: Expr[Any]) -> Compound[R, M]:
        """``ORDER BY`` over the whole compound, by output column names."""
        return self._replace(_order_by=(*self._order_by, *order_items(items)))

    def limit(self, n: int | Expr[int] | None) -> Compound[R, M]:
        """``LIMIT n`` over the whole compound."""
        return self._replace(_limit=n)

    def offset(self, n: int | Expr[int] | None) -> Compound[R, M]:
        """``OFFSET n`` over the whole compound."""
        return self._replace(_offset=n)

    def as_(self, name: str) -> Subquery[R]:  # type: ignore[override]
        """Name the compound: a derived table or a CTE (see ``Select.as_``)."""
        return name_query(self, name)

    def _outputs(self) -> list[Output]:
        return self._left._outputs()  # type: ignore[no-any-return]

    def _maker(self) -> Maker | None:
        return self._left._maker()  # type: ignore[no-any-return]

    def _render_statement(self, ctx: Ctx) -> pg.Composable:
        return render_compound(self, ctx)

    def _reads_only(self) -> bool:
        return bool(
            self._left._reads_only() and self._right._reads_only() and reads_only(self._ctes)
        )

    def _render(self, ctx: Ctx) -> pg.Composable:
        return fmt("({})", render_compound(self, ctx))


def _fold(op: SetOp, first: Any, others: tuple[Any, ...]) -> Compound[Any, Any]:
    if not others:
        raise QueryError(f"{op}() needs at least two queries")
    result = _combine(first, op, others[0])
    for other in others[1:]:
        result = _combine(result, op, other)
    return result


def union(first: Select[R, M] | Compound[R, M], *others: SetOperand) -> Compound[R, M]:
    """``a UNION b UNION c ...``: ``union(q1, q2, q3)``."""
    return _fold("union", first, others)


def union_all(first: Select[R, M] | Compound[R, M], *others: SetOperand) -> Compound[R, M]:
    """``a UNION ALL b UNION ALL c ...``."""
    return _fold("union all", first, others)


def intersect(first: Select[R, M] | Compound[R, M], *others: SetOperand) -> Compound[R, M]:
    """``a INTERSECT b INTERSECT c ...``."""
    return _fold("intersect", first, others)


def intersect_all(first: Select[R, M] | Compound[R, M], *others: SetOperand) -> Compound[R, M]:
    """``a INTERSECT ALL b ...``."""
    return _fold("intersect all", first, others)


def except_(first: Select[R, M] | Compound[R, M], *others: SetOperand) -> Compound[R, M]:
    """``a EXCEPT b EXCEPT c ...``: rows of ``a`` in none of the others."""
    return _fold("except", first, others)


def except_all(first: Select[R, M] | Compound[R, M], *others: SetOperand) -> Compound[R, M]:
    """``a EXCEPT ALL b ...``."""
    return _fold("except all", first, others)
