"""Named subqueries: derived tables and CTEs.

``q.as_("recent")`` names a select (or a set operation). Used in ``from_`` or
a join it is a derived table, ``(SELECT ...) AS "recent"``; passed to
``db.with_(...)`` it is a common table expression and ``from_(recent)``
renders ``"recent"``. Its output columns are attributes::

    recent = db.select(Sessions.user_id).from_(Sessions).as_("recent")
    db.select(recent.user_id).from_(recent)      # SELECT "recent"."user_id" FROM ...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from psycopg import sql as pg

from pgbuild.errors import QueryError
from pgbuild.expressions import Expr
from pgbuild.frozen import fast_init
from pgbuild.render import Ctx, fmt, ident
from pgbuild.rows import Maker
from pgbuild.table import check_identifier

R = TypeVar("R")


@dataclasses.dataclass(frozen=True, slots=True)
class Output:
    """One output column of a query: its SQL name (``None`` when PostgreSQL
    picks one, as for ``count(*)``), its Python attribute and its decoder."""

    name: str | None
    attr: str | None
    decoder: Callable[[Any], Any] | None = None


class Named(Protocol):
    """A query that can be named: a select or a set operation."""

    def _render(self, ctx: Ctx) -> pg.Composable: ...
    def _outputs(self) -> list[Output]: ...
    def _maker(self) -> Maker | None: ...
    def _reads_only(self) -> bool: ...


@fast_init
@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Subquery(Generic[R]):
    """A named query: a derived table in ``from_``/joins, a CTE in ``with_``.

    Columns are attributes (``recent.user_id``, an expression rendering
    ``"recent"."user_id"``); ``recent["name"]`` reaches any output name.
    Selecting it whole (``db.select().from_(recent)``) gives rows of the
    query's own shape.
    """

    _query: Named
    _name: str

    def __post_init__(self) -> None:
        check_identifier(self._name, "subquery")

    @property
    def __alias__(self) -> str:
        """The name it is known by, as for tables (``row[recent]`` in joins)."""
        return self._name

    # Typed Any: a subquery's columns are not known to the type checker, and an
    # Any operand compares with any column (eq(Users.id, recent.user_id)).
    def __getattr__(self, attr: str) -> Any:
        if attr == "_render":
            raise AttributeError(
                f"subquery {self._name!r} is a named table for from_/joins/with_, not a value; "
                f"select its columns ({self._name}.column) or use the unnamed query as a value"
            )
        if attr.startswith("_"):
            raise AttributeError(attr)
        for out in self._query._outputs():
            if attr in (out.attr, out.name) and out.name is not None:
                return SubqueryColumn(self._name, out.name, out.decoder)
        names = [o.attr or o.name for o in self._query._outputs() if o.name is not None]
        raise AttributeError(f"subquery {self._name!r} has no column {attr!r}; columns: {names}")

    def __getitem__(self, name: str) -> Any:
        """Any output column by its SQL name: ``recent["count"]``."""
        for out in self._query._outputs():
            if out.name == name:
                return SubqueryColumn(self._name, name, out.decoder)
        return SubqueryColumn(self._name, check_identifier(name, "subquery column"))

    def __repr__(self) -> str:
        return f"Subquery({self._name!r})"

    def _width(self) -> int:
        return len(self._query._outputs())

    def _render_query(self, ctx: Ctx) -> pg.Composable:
        """The parenthesized query, for ``AS (...)`` and derived tables."""
        return self._query._render(ctx)


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class SubqueryColumn(Expr[Any]):
    """A column of a subquery or CTE: ``"recent"."user_id"``."""

    source: str
    column: str
    decoder: Callable[[Any], Any] | None = None

    def _render(self, ctx: Ctx) -> pg.Composable:
        return ident(self.source, self.column) if ctx.qualify else ident(self.column)


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class AllColumns(Expr[Any]):
    """``"recent".*``: every column of a subquery, in a whole-row select."""

    source: Subquery[Any]

    def _render(self, ctx: Ctx) -> pg.Composable:
        return fmt("{}.*", ident(self.source._name))


def name_query(query: Named, name: str) -> Subquery[Any]:
    if not isinstance(name, str):
        raise QueryError(f"as_() takes a name, not {type(name).__name__}")
    return Subquery(query, name)
