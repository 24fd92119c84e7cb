"""``WITH``: common table expressions before a select, insert, update or delete.

::

    recent = db.select(Sessions.user_id).from_(Sessions).where(gte(...)).as_("recent")
    in_recent = in_(Users.id, db.select(recent.user_id).from_(recent))
    db.with_(recent).select().from_(Users).where(in_recent).all()
    db.with_(recent).delete(Users).where(not_(in_recent)).execute()

Inside the statement, ``from_(recent)`` (at any depth) refers to the CTE by
name; each CTE may use the ones listed before it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pgbuild.errors import QueryError
from pgbuild.queries.base import Executor, M
from pgbuild.queries.builders import Builders
from pgbuild.queries.subquery import Subquery


def check_ctes(ctes: tuple[Any, ...]) -> tuple[Subquery[Any], ...]:
    """Named queries only, each name once."""
    if not ctes:
        raise QueryError("with_() needs at least one named query: q.as_(\"name\")")
    seen: set[str] = set()
    for cte in ctes:
        if not isinstance(cte, Subquery):
            raise QueryError(
                f"with_() takes named queries (q.as_(\"name\")), not {type(cte).__name__}"
            )
        if cte._name in seen:
            raise QueryError(f"with_(): two CTEs are named {cte._name!r}")
        seen.add(cte._name)
    return ctes


@dataclasses.dataclass(frozen=True, slots=True)
class With(Builders[M]):
    """``db.with_(cte, ...)``: the statement builders, each preceded by ``WITH``."""

    _executor: Executor | None
    _ctes: tuple[Subquery[Any], ...]

    def _target(self) -> Executor | None:
        return self._executor
