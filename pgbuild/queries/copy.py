"""``copy_into``: bulk loading over ``COPY ... FROM STDIN``.

The rows are checked like ``insert(...).values(rows)`` (unknown columns,
missing NOT NULL columns, an empty list), then streamed to the server in one
``COPY`` statement: all rows are loaded, or none.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any, cast

from psycopg import sql as pg

from pgbuild.columns import Column
from pgbuild.compiler import table_ref
from pgbuild.errors import QueryError
from pgbuild.queries.insert import Insert, RowValues, _columns, check_columns
from pgbuild.render import fmt, ident, join
from pgbuild.table import Table


def copy_plan(
    table: type[Table], rows: Sequence[RowValues]
) -> tuple[pg.Composed, list[tuple[Any, ...]]]:
    """The ``COPY`` statement and the rows as tuples in its column order."""
    plain = _plain(table, rows)
    if plain is not None:
        return _statement(table, plain[0]), plain[1]
    checked = Insert(None, table).values(list(rows))._rows
    columns = [c for c in table.__table__.columns if c in checked[0]]
    first = checked[0].keys()
    for i, row in enumerate(checked):
        if row.keys() != first:
            raise QueryError(
                f"copy_into {table.__table__.name}: row {i} has columns "
                f"{sorted(c.attr for c in row)}, the first row "
                f"{sorted(c.attr for c in columns)}; COPY needs the same columns in every row"
            )
    statement = _statement(table, columns)
    if any(c.needs_dump for c in columns):
        values = [tuple(c.dump(row[c]) for c in columns) for row in checked]
    elif len(columns) == 1:
        (only,) = columns
        values = [(row[only],) for row in checked]
    else:
        pick = itemgetter(*columns)  # one C call per row builds its tuple
        values = [pick(row) for row in checked]
    return statement, values


def _statement(table: type[Table], columns: Sequence[Column[Any]]) -> pg.Composed:
    return fmt(
        "COPY {} ({}) FROM STDIN",
        table_ref(table), join(pg.SQL(", "), (ident(c.db_name) for c in columns))
    )


def _plain(
    table: type[Table], rows: Sequence[RowValues]
) -> tuple[list[Column[Any]], list[tuple[Any, ...]]] | None:
    """The fast path for the common bulk load: dicts with the same attribute
    names, values psycopg sends as they are, no Python-side defaults. The
    checks of ``values()`` run a column at a time; anything unusual (or
    wrong, to be reported with its row) takes the general path."""
    if not rows or type(rows[0]) is not dict:
        return None
    keys = rows[0].keys()
    by_attr = table.__table__.by_attr
    if not keys or any(not isinstance(k, str) or k not in by_attr for k in keys):
        return None
    chosen = {by_attr[k] for k in keys}
    kinds = _columns(table)
    if (
        any(c.generated is not None or c.needs_dump for c in chosen)
        or any(c not in chosen for c in kinds.filled)
        or any(c not in chosen for c in kinds.required)
        or any(type(row) is not dict or row.keys() != keys for row in rows)
    ):
        return None
    dicts = cast(Sequence[dict[str, Any]], rows)
    columns = [c for c in table.__table__.columns if c in chosen]
    attrs = [c.attr for c in columns]
    if len(attrs) == 1:
        values = [(row[attrs[0]],) for row in dicts]
    else:
        pick = itemgetter(*attrs)  # one C call per row builds its tuple
        values = [pick(row) for row in dicts]
    by_column = dict(zip(columns, zip(*values, strict=True), strict=True))
    if any(None in by_column[c] for c in kinds.required):
        return None  # the general path names the row
    check_columns(table, by_column)
    return columns, values
