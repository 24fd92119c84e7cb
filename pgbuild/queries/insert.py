"""``INSERT``: ``db.insert(Users).values({...}).on_conflict_do_update(...).returning()``.

Values are checked when given: an unknown column, a missing NOT NULL column
that has no default, or an empty list is a :class:`~pgbuild.QueryError`
naming the table and column, raised before anything reaches the server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from psycopg import sql as pg

from pgbuild.columns import Column
from pgbuild.compiler import render_insert
from pgbuild.errors import QueryError
from pgbuild.expressions import Expr
from pgbuild.queries.base import M, Query, WriteQuery
from pgbuild.queries.subquery import Subquery
from pgbuild.render import Ctx
from pgbuild.table import Table

TT = TypeVar("TT", bound=Table)

RowValues = Mapping[str, Any] | Mapping[Column[Any], Any] | Table


def column_of(table: type[Table], key: str | Column[Any]) -> Column[Any]:
    """The column a ``values``/``set`` key names (attribute name or Column)."""
    meta = table.__table__
    if isinstance(key, Column):
        if key.table is not table:
            raise QueryError(f"column {key!r} does not belong to table {meta.name}")
        return key
    col = meta.by_attr.get(key)
    if col is None:
        raise QueryError(f"table {meta.name} has no column {key!r}")
    return col


def normalise_row(table: type[Table], row: RowValues) -> dict[Column[Any], Any]:
    """A row (or assignments) keyed by column; generated columns are refused."""
    items = row.__dict__.items() if isinstance(row, Table) else row.items()
    try:  # the common case, attribute names: one dict lookup per key
        by_attr: dict[Any, Column[Any]] = table.__table__.by_attr
        out = {by_attr[k]: v for k, v in items}
    except (KeyError, TypeError):  # Column keys, or a name to report
        out = {column_of(table, k): v for k, v in items}
    for col in _columns(table).generated:
        if col in out:
            raise QueryError(
                f"{table.__table__.name}.{col.attr} is a generated column: the server "
                "computes it, so it cannot be written"
            )
    return out


@dataclasses.dataclass(frozen=True, slots=True)
class _Kinds:
    generated: tuple[Column[Any], ...]
    filled: tuple[Column[Any], ...]
    required: tuple[Column[Any], ...]


@lru_cache(maxsize=1024)
def _kinds(table: Any) -> _Kinds:
    columns = table.__table__.columns
    return _Kinds(
        generated=tuple(c for c in columns if c.generated is not None),
        filled=tuple(
            c
            for c in columns
            if c.default_factory is not None or (c.has_on_update and not c.has_default)
        ),
        required=tuple(c for c in columns if not c.nullable and not c.has_default),
    )


def _columns(table: type[Table]) -> _Kinds:
    key: Any = table  # a class is hashable, whatever its instances are
    return _kinds(key)


def _fill(table: type[Table], row: dict[Column[Any], Any]) -> dict[Column[Any], Any]:
    """Python-side defaults for an inserted row: ``default_fn`` columns, and
    ``on_update`` columns without a database default (as Drizzle's $onUpdate)."""
    for col in _columns(table).filled:
        if col in row:
            continue
        if col.default_factory is not None:
            row[col] = col.default_factory()
        else:
            row[col] = col.on_update_value()
    return row


@dataclasses.dataclass(frozen=True, slots=True)
class OnConflict:
    target: tuple[Expr[Any], ...] = ()
    target_where: Expr[bool] | None = None
    set: dict[Column[Any], Any] | None = None
    set_where: Expr[bool] | None = None


def _targets(target: Expr[Any] | Sequence[Expr[Any]] | None) -> tuple[Expr[Any], ...]:
    if target is None:
        return ()
    return (target,) if isinstance(target, Expr) else tuple(target)


@dataclasses.dataclass(frozen=True, slots=True)
class Insert(WriteQuery[TT, M]):
    """An immutable ``INSERT`` builder."""

    _rows: tuple[dict[Column[Any], Any], ...] = ()
    _source: Any = None
    _source_columns: tuple[Column[Any], ...] = ()
    _conflict: OnConflict | None = None
    _overriding: bool = False
    _ctes: tuple[Subquery[Any], ...] = ()

    def values(self, rows: RowValues | Sequence[RowValues]) -> Insert[TT, M]:
        """One row (a dict or a row object) or a list of rows.

        Rows with different keys insert the union of the keys, ``DEFAULT`` for
        the missing ones; ``values({})`` is ``DEFAULT VALUES``.
        """
        many = rows if isinstance(rows, Sequence) else [rows]
        meta = self._table.__table__
        if not many:
            raise QueryError(f"insert into {meta.name}: values([]) has no rows to insert")
        normalised = tuple(_fill(self._table, normalise_row(self._table, r)) for r in many)
        required = _columns(self._table).required
        for i, row in enumerate(normalised):
            for col in required:
                if row.get(col, ...) is None or col not in row:
                    where = f" (row {i})" if len(normalised) > 1 else ""
                    raise QueryError(
                        f"insert into {meta.name}{where}: column {col.attr!r} is NOT NULL "
                        "and has no default; give it a value"
                    )
        return self._replace(_rows=normalised, _source=None)

    def select(
        self, query: Query[Any, Any], columns: Sequence[Column[Any] | str] | None = None
    ) -> Insert[TT, M]:
        """``INSERT INTO table (columns) SELECT ...`` (a select or a set operation).

        Without ``columns``, each selected field names its target column: a
        column by its attribute name, ``x.as_("name")`` by its label, a keyword
        field (``select(user_id=Users.id, ...)``) by its keyword::

            db.insert(AuditLogs).select(
                db.select(id=sql("'log_' || {i}", i=Users.id), user_id=Users.id,
                          action=sql("'import'"), table_name=sql("'users'")).from_(Users)
            ).execute()
        """
        name = self._table.__table__.name
        outputs = getattr(query, "_outputs", None)
        if not callable(outputs):
            raise QueryError(f"insert into {name}: .select() takes a select or a set operation")
        fields = outputs()
        if columns is None:
            unnamed = [i for i, f in enumerate(fields) if f.attr is None]
            if unnamed:
                raise QueryError(
                    f"insert into {name}: field {unnamed[0]} of the select has no name; "
                    "label it (.as_(...) or a keyword field) or pass columns="
                )
            columns = [f.attr for f in fields if f.attr is not None]
        targets = tuple(column_of(self._table, c.attr if isinstance(c, Column) else c)
                        for c in columns)
        if len(targets) != len(fields):
            raise QueryError(
                f"insert into {name}: {len(targets)} columns but the select gives {len(fields)}"
            )
        return self._replace(_source=query, _source_columns=targets, _rows=())

    def overriding_system_value(self) -> Insert[TT, M]:
        """``OVERRIDING SYSTEM VALUE``: insert explicit values into a
        ``GENERATED ALWAYS AS IDENTITY`` column."""
        return self._replace(_overriding=True)

    def on_conflict_do_nothing(
        self,
        target: Expr[Any] | Sequence[Expr[Any]] | None = None,
        *,
        where: Expr[bool] | None = None,
    ) -> Insert[TT, M]:
        """``ON CONFLICT [(target) [WHERE where]] DO NOTHING``."""
        return self._replace(_conflict=OnConflict(_targets(target), where))

    def on_conflict_do_update(
        self,
        *,
        target: Expr[Any] | Sequence[Expr[Any]],
        set: Mapping[str, Any] | Mapping[Column[Any], Any],
        where: Expr[bool] | None = None,
        target_where: Expr[bool] | None = None,
        set_where: Expr[bool] | None = None,
    ) -> Insert[TT, M]:
        """``ON CONFLICT (target) DO UPDATE SET ... [WHERE ...]`` (an upsert).

        ``where``/``set_where`` filters the rows to update; ``target_where``
        selects a partial unique index. Use ``excluded(col)`` for the proposed row.
        """
        if where is not None and set_where is not None:
            raise QueryError("on_conflict_do_update: give where= or set_where=, not both")
        assignments = normalise_row(self._table, set)
        if not assignments:
            raise QueryError(f"insert into {self._table.__table__.name}: upsert set= is empty")
        conflict = OnConflict(
            _targets(target), target_where, assignments, set_where if where is None else where
        )
        return self._replace(_conflict=conflict)


    def _insert_columns(self) -> list[Column[Any]]:
        present = set().union(*self._rows)
        cols = [c for c in self._table.__table__.columns if c in present]
        # Several rows that are all empty still need one column to say DEFAULT for.
        return cols or [self._table.__table__.columns[0]]

    def _render_statement(self, ctx: Ctx) -> pg.Composable:
        if not self._rows and self._source is None:
            raise QueryError(f"insert into {self._table.__table__.name}: call .values(...) first")
        return render_insert(self, ctx)

    def _verb(self) -> str:
        return "insert into"

