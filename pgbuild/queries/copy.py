"""``copy_into``: bulk loading over ``COPY ... FROM STDIN``.

The rows are checked like ``insert(...).values(rows)`` (unknown columns,
missing NOT NULL columns, an empty list), then streamed to the server in one
``COPY`` statement: all rows are loaded, or none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql as pg

from pgbuild.compiler import table_ref
from pgbuild.errors import QueryError
from pgbuild.queries.insert import Insert, RowValues
from pgbuild.render import ident
from pgbuild.table import Table


def copy_plan(
    table: type[Table], rows: Sequence[RowValues]
) -> tuple[pg.Composed, list[tuple[Any, ...]]]:
    """The ``COPY`` statement and the rows as tuples in its column order."""
    checked = Insert(None, table).values(list(rows))._rows
    columns = [c for c in table.__table__.columns if c in checked[0]]
    for i, row in enumerate(checked):
        if len(row) != len(columns) or any(c not in row for c in columns):
            raise QueryError(
                f"copy_into {table.__table__.name}: row {i} has columns "
                f"{sorted(c.attr for c in row)}, the first row "
                f"{sorted(c.attr for c in columns)}; COPY needs the same columns in every row"
            )
    statement = pg.SQL("COPY {} ({}) FROM STDIN").format(
        table_ref(table), pg.SQL(", ").join(ident(c.db_name) for c in columns)
    )
    if any(c.needs_dump for c in columns):
        values = [tuple(c.dump(row[c]) for c in columns) for row in checked]
    else:
        values = [tuple(row[c] for c in columns) for row in checked]
    return statement, values
