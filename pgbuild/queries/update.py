"""``UPDATE``: ``db.update(Users).set({...}).where(...).returning()``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from psycopg import sql as pg

from pgbuild.columns import Column
from pgbuild.compiler import render_update
from pgbuild.errors import QueryError
from pgbuild.expressions import Expr, and_
from pgbuild.frozen import fast_init
from pgbuild.queries.base import M, WriteQuery
from pgbuild.queries.insert import normalise_row
from pgbuild.queries.subquery import Subquery
from pgbuild.render import Ctx
from pgbuild.table import Table

TT = TypeVar("TT", bound=Table)


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class Update(WriteQuery[TT, M]):
    """An immutable ``UPDATE`` builder. Without ``where`` it updates every row,
    as in SQL."""

    _set: dict[Column[Any], Any] = dataclasses.field(default_factory=dict)
    _from: tuple[Any, ...] = ()
    _where: Expr[bool] | None = None
    _ctes: tuple[Subquery[Any], ...] = ()

    def set(self, values: Mapping[str, Any] | Mapping[Column[Any], Any]) -> Update[TT, M]:
        """Columns to assign: plain values (bound) or expressions
        (``{"metadata": jsonb_set(...)}``). Calling it again adds assignments.
        Values are checked as ``insert().values()`` checks them: a type that
        plainly does not fit its column, an int out of range or a NUL byte is
        a :class:`~pgbuild.QueryError` before anything is sent."""
        assignments = normalise_row(self._table, values)
        return self._replace(_set={**self._set, **assignments})

    def from_(self, *sources: Any) -> Update[TT, M]:
        """``UPDATE ... FROM other``: join other tables (aliases, subqueries)
        into the update; relate them to the target in ``where``::

            db.update(Users).set({"name": Staff.name}).from_(Staff)
              .where(eq(Users.id, Staff.user_id))
        """
        return self._replace(_from=(*self._from, *sources))

    def where(self, condition: Expr[bool] | None) -> Update[TT, M]:
        """Which rows; calling it again ANDs the conditions."""
        if condition is None:
            return self
        where = condition if self._where is None else and_(self._where, condition)
        return self._replace(_where=where)


    def _render_statement(self, ctx: Ctx) -> pg.Composable:
        if not self._set:
            raise QueryError(f"update {self._table.__table__.name}: call .set({{...}}) first")
        return render_update(self, ctx)

    def _verb(self) -> str:
        return "update"
