"""``DELETE``: ``db.delete(Sessions).where(...).returning()``."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from psycopg import sql as pg

from pgbuild.compiler import render_delete
from pgbuild.expressions import Expr, and_
from pgbuild.frozen import fast_init
from pgbuild.queries.base import M, WriteQuery
from pgbuild.queries.subquery import Subquery
from pgbuild.render import Ctx
from pgbuild.table import Table

TT = TypeVar("TT", bound=Table)


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class Delete(WriteQuery[TT, M]):
    """An immutable ``DELETE`` builder. Without ``where`` it deletes every row,
    as in SQL."""

    _where: Expr[bool] | None = None
    _ctes: tuple[Subquery[Any], ...] = ()

    def where(self, condition: Expr[bool] | None) -> Delete[TT, M]:
        """Which rows; calling it again ANDs the conditions."""
        if condition is None:
            return self
        where = condition if self._where is None else and_(self._where, condition)
        return self._replace(_where=where)


    def _render_statement(self, ctx: Ctx) -> pg.Composable:
        return render_delete(self, ctx)

    def _verb(self) -> str:
        return "delete from"
