"""``copy_into``: bulk loading over ``COPY ... FROM STDIN``.

The rows are checked like ``insert(...).values(rows)`` (unknown columns,
missing NOT NULL columns, an empty list), then streamed to the server in one
``COPY`` statement: all rows are loaded, or none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

from psycopg import sql as pg

from pgbuild.columns import Column
from pgbuild.compiler import table_ref
from pgbuild.errors import QueryError
from pgbuild.queries.insert import RowValues, checked_rows, plain_rows
from pgbuild.render import fmt, ident, join
from pgbuild.table import Table


def copy_plan(
    table: type[Table], rows: Sequence[RowValues]
) -> tuple[pg.Composed, Iterable[tuple[Any, ...]]]:
    """The ``COPY`` statement and the rows as tuples in its column order
    (made one at a time as they are sent, when they come from columns)."""
    if not rows:
        raise QueryError(f"insert into {table.__table__.name}: values([]) has no rows to insert")
    plain = plain_rows(table, rows)
    if plain is not None:
        return _statement(table, plain.columns), zip(*plain.values, strict=True)
    # Not plain (plain_rows said so once): checked row by row.
    checked = checked_rows(table, rows)
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
