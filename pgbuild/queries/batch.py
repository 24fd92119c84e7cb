"""What streaming and batching share between the sync and async executors."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from pgbuild.errors import QueryError
from pgbuild.expressions import Compiled
from pgbuild.queries.base import Query
from pgbuild.rows import Maker, maker_factory

_cursors = itertools.count(1)


def cursor_name() -> str:
    """A fresh name for a server-side cursor."""
    return f"pgbuild_cursor_{next(_cursors)}"


def batch_plan(queries: Sequence[Query[Any, Any]]) -> list[tuple[Compiled, Maker | bool | None]]:
    """Each query compiled, with how its rows become values: a maker, ``None``
    for plain tuples, or ``False`` for a statement that returns a row count."""
    if not queries:
        raise QueryError("batch([]) has nothing to run")
    plan: list[tuple[Compiled, Maker | bool | None]] = []
    for query in queries:
        if not isinstance(query, Query):
            raise QueryError(f"batch() takes built queries, not {type(query).__name__}")
        try:
            maker: Maker | bool | None = query._maker()
        except QueryError:
            maker = False  # a write without RETURNING
        plan.append((query.compile(), maker))
    return plan


def row_factory_for(maker: Maker | bool | None) -> Any:
    """The psycopg row factory for a planned statement (tuples by default)."""
    from psycopg.rows import tuple_row

    if maker is None or maker is False or maker is True:
        return tuple_row
    return maker_factory(maker)
