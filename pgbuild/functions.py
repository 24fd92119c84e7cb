"""SQL beyond comparisons: JSONB operators, ``ANY``, window functions,
``CASE`` and ``CAST``.

::

    json_get_text(Users.metadata, "preferences", "theme")   # metadata -> ... ->> 'theme'
    jsonb_contains(Users.metadata, {"lastDevice": "ios"})    # metadata @> '{...}'
    row_number().over(partition_by=Sessions.user_id, order_by=desc(Sessions.created_at))
    case_((gt(Orders.total, 100), "big"), else_="small")
    cast(Users.id, "integer")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from psycopg import sql as pg
from psycopg.types.json import Jsonb

from pgbuild.custom_types import _vector_text
from pgbuild.errors import QueryError
from pgbuild.expressions import Cast, Expr, Func, OrderBy, Param, _operand
from pgbuild.frozen import fast_init
from pgbuild.render import Ctx, Frag, check_type_name, join

T = TypeVar("T")

_OPEN = pg.SQL("(")
_CLOSE = pg.SQL(")")
_COMMA = pg.SQL(", ")


# ------------------------------------------------------------------ JSONB


def _key(key: str | int) -> Expr[Any]:
    # Typed, so the operator resolves the same way whatever the key's value:
    # ``-> text`` reads an object member, ``-> integer`` an array element.
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise QueryError(f"a JSON path step is a str or an int, not {key!r}")
    return Cast(Param(key), "integer" if isinstance(key, int) else "text")


@fast_init
@dataclass(frozen=True, slots=True)
class JsonPath(Expr[Any]):
    """``doc -> 'a' -> 'b'`` (or ``->>`` for the last step, as text)."""

    doc: Expr[Any]
    path: tuple[str | int, ...]
    as_text: bool

    def _render(self, ctx: Ctx) -> pg.Composable:
        parts: list[pg.Composable] = [_operand(self.doc, ctx, None)]
        for i, step in enumerate(self.path):
            last = i == len(self.path) - 1
            parts += [pg.SQL(" ->> " if last and self.as_text else " -> "), _key(step)._render(ctx)]
        return Frag([_OPEN, *parts, _CLOSE])


def json_get(doc: Expr[Any], *path: str | int) -> Expr[Any]:
    """``doc -> 'a' -> 'b'``: a member (or array element) as JSON."""
    if not path:
        raise QueryError("json_get() needs at least one key")
    return JsonPath(doc, path, as_text=False)


def json_get_text(doc: Expr[Any], *path: str | int) -> Expr[str | None]:
    """``doc -> 'a' ->> 'b'``: a member as text (``None`` when missing)."""
    if not path:
        raise QueryError("json_get_text() needs at least one key")
    return JsonPath(doc, path, as_text=True)


@fast_init
@dataclass(frozen=True, slots=True)
class _JsonbOp(Expr[bool]):
    doc: Expr[Any]
    operator: str
    value: Expr[Any]

    def _render(self, ctx: Ctx) -> pg.Composable:
        return Frag(
            [_operand(self.doc, ctx, None), pg.SQL(self.operator), self.value._render(ctx)]
        )


def jsonb_contains(doc: Expr[Any], value: Any) -> Expr[bool]:
    """``doc @> value``: the document contains ``value`` (a dict, list, ...)."""
    return _JsonbOp(doc, " @> ", Cast(Param(Jsonb(value)), "jsonb"))


def jsonb_has_key(doc: Expr[Any], key: str) -> Expr[bool]:
    """``doc ? key``: the object has this top-level key."""
    return _JsonbOp(doc, " ? ", Cast(Param(key), "text"))


# ------------------------------------------------------------------ arrays


@fast_init
@dataclass(frozen=True, slots=True)
class AnyOf(Expr[Any]):
    """``ANY(array)``, the right side of a comparison: ``eq(value, any_(col))``."""

    is_any: ClassVar[bool] = True
    array: Expr[Any]

    def _render(self, ctx: Ctx) -> pg.Composable:
        return Frag([pg.SQL("ANY("), _operand(self.array, ctx, None), _CLOSE])


def any_(array: Expr[Any]) -> Expr[Any]:
    """``= ANY(array)``: ``where(eq(sql("{v}", v="x"), any_(Posts.tags)))``, or
    with the column first, ``eq(any_(Posts.tags), "x")``, which is turned around."""
    return AnyOf(array)


# ------------------------------------------------------------------ pgvector


@fast_init
@dataclass(frozen=True, slots=True)
class VectorDistance(Expr[float]):
    """``a <-> b`` (and ``<=>``, ``<#>``) between pgvector vectors."""

    left: Expr[Any]
    operator: str
    right: Any
    negate: bool = False

    def _render(self, ctx: Ctx) -> pg.Composable:
        if isinstance(self.right, Expr):
            right = self.right._render(ctx)
        else:
            right = Frag([ctx.param(_vector_text(self.right)), pg.SQL("::vector")])
        distance = [_OPEN, _operand(self.left, ctx, None), pg.SQL(self.operator), right, _CLOSE]
        if self.negate:
            return Frag([_OPEN, *distance, pg.SQL(" * -1"), _CLOSE])
        return Frag(distance)


def l2_distance(left: Expr[Any], right: Any) -> Expr[float]:
    """Euclidean distance, ``left <-> right``: ``order_by(l2_distance(Items.embedding, v))``."""
    return VectorDistance(left, " <-> ", right)


def cosine_distance(left: Expr[Any], right: Any) -> Expr[float]:
    """Cosine distance (1 - cosine similarity), ``left <=> right``."""
    return VectorDistance(left, " <=> ", right)


def inner_product(left: Expr[Any], right: Any) -> Expr[float]:
    """The inner product, ``(left <#> right) * -1`` (pgvector's operator is
    the negative inner product, which is what an index orders by)."""
    return VectorDistance(left, " <#> ", right, negate=True)


# ------------------------------------------------------------------ windows


@fast_init
@dataclass(frozen=True, slots=True)
class Over(Expr[T]):
    """``f(...) OVER (PARTITION BY ... ORDER BY ...)``."""

    call: Expr[T]
    partition_by: tuple[Expr[Any], ...] = ()
    order_by: tuple[Expr[Any], ...] = ()

    def _render(self, ctx: Ctx) -> pg.Composable:
        call = self.call._render(ctx)  # first: parameters are numbered in text order
        window: list[pg.Composable] = []
        if self.partition_by:
            window += [
                pg.SQL("PARTITION BY "),
                join(_COMMA, [p._render(ctx) for p in self.partition_by]),
            ]
        if self.order_by:
            if window:
                window.append(pg.SQL(" "))
            window += [pg.SQL("ORDER BY "), join(_COMMA, [o._render(ctx) for o in self.order_by])]
        return Frag([call, pg.SQL(" OVER ("), *window, _CLOSE])


def over(
    call: Expr[T],
    *,
    partition_by: Expr[Any] | Sequence[Expr[Any]] | None = None,
    order_by: Expr[Any] | Sequence[Expr[Any]] | None = None,
) -> Over[T]:
    """A window: ``over(count(), partition_by=Sessions.user_id)``; the same as
    ``count().over(partition_by=...)``."""
    return Over(call, _items(partition_by), tuple(_ordered(_items(order_by))))


def _items(value: Expr[Any] | Sequence[Expr[Any]] | None) -> tuple[Expr[Any], ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, Expr) else tuple(value)


def _ordered(items: tuple[Expr[Any], ...]) -> list[Expr[Any]]:
    return [i if isinstance(i, OrderBy) else OrderBy(i) for i in items]


def row_number() -> Func[int]:
    """``row_number()``; finish it with ``.over(...)``."""
    return Func("row_number")


def rank() -> Func[int]:
    """``rank()``: ties share a rank, then a gap."""
    return Func("rank")


def dense_rank() -> Func[int]:
    """``dense_rank()``: ties share a rank, no gaps."""
    return Func("dense_rank")


def lag(item: Expr[T], offset: int = 1, default: Any = None) -> Func[T | None]:
    """``lag(item, offset, default)``: the value ``offset`` rows before."""
    return Func("lag", (item, offset, default))


def lead(item: Expr[T], offset: int = 1, default: Any = None) -> Func[T | None]:
    """``lead(item, offset, default)``: the value ``offset`` rows after."""
    return Func("lead", (item, offset, default))


# ------------------------------------------------------------------ CASE / CAST


@fast_init
@dataclass(frozen=True, slots=True)
class Case(Expr[Any]):
    """``CASE WHEN cond THEN value ... ELSE default END``."""

    whens: tuple[tuple[Expr[bool], Any], ...]
    else_: Any

    def _render(self, ctx: Ctx) -> pg.Composable:
        parts: list[pg.Composable] = [pg.SQL("CASE")]
        for cond, value in self.whens:
            # Render in text order: parameters are numbered as they render.
            parts += [pg.SQL(" WHEN "), cond._render(ctx), pg.SQL(" THEN ")]
            parts.append(_operand(value, ctx, None))
        if self.else_ is not None:
            parts += [pg.SQL(" ELSE "), _operand(self.else_, ctx, None)]
        parts.append(pg.SQL(" END"))
        return Frag(parts)


def case_(*whens: tuple[Expr[bool], Any], else_: Any = None) -> Expr[Any]:
    """``CASE WHEN ... THEN ... ELSE ... END``; values are bound parameters:
    ``case_((gt(Orders.total, 100), "big"), else_="small")``."""
    if not whens:
        raise QueryError("case_() needs at least one (condition, value) pair")
    return Case(tuple(whens), else_)


def cast(item: Any, type_name: str) -> Expr[Any]:
    """``CAST``: ``cast(Users.id, "integer")``. The type name is checked
    (letters, digits, spaces, ``(p, s)``, ``[]``), never a place for values."""
    return Cast(item, check_type_name(type_name, "cast()"))


__all__ = [
    "AnyOf",
    "Case",
    "JsonPath",
    "Over",
    "VectorDistance",
    "any_",
    "case_",
    "cast",
    "cosine_distance",
    "dense_rank",
    "inner_product",
    "json_get",
    "json_get_text",
    "jsonb_contains",
    "jsonb_has_key",
    "l2_distance",
    "lag",
    "lead",
    "over",
    "rank",
    "row_number",
]
