"""Expression nodes and the operator functions that build them.

Nodes are small frozen dataclasses; each renders itself into psycopg
composables, collecting values as bound parameters in a :class:`~pgbuild.render.Ctx`.
The operator functions are typed so that comparing a ``Column[str]`` with an
``int`` is a type error::

    >>> where = and_(eq(Users.id, "u1"), is_null(Users.deleted_at))
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeAlias, TypeVar, overload

from psycopg import sql as pg
from psycopg.types.json import Jsonb

from pgbuild.frozen import fast_init
from pgbuild.render import Ctx, Frag, fmt, join, literal_sql, text_of

if TYPE_CHECKING:
    from pgbuild.columns import Column

T = TypeVar("T")
U = TypeVar("U")


class Expr(Generic[T]):
    """A typed SQL expression. ``T`` is the Python type of its value."""

    __slots__ = ()
    is_column: ClassVar[bool] = False

    def _render(self, ctx: Ctx) -> pg.Composable:
        raise NotImplementedError

    def over(
        self,
        *,
        partition_by: Expr[Any] | Sequence[Expr[Any]] | None = None,
        order_by: Expr[Any] | Sequence[Expr[Any]] | None = None,
    ) -> Expr[T]:
        """As a window function: ``count().over(partition_by=Sessions.user_id)``."""
        from pgbuild.functions import over

        return over(self, partition_by=partition_by, order_by=order_by)

    def op(self, opclass: str) -> Expr[T]:
        """With an operator class, in an index:
        ``index("meta_gin").using("gin").on(metadata.op("jsonb_path_ops"))``."""
        return OpClass(self, check_name(opclass, "op()"))

    def as_(self, label: str) -> Labelled[T]:
        """Name this expression in a select list: ``count().as_("n")``."""
        return Labelled(self, label)

    def compile(self) -> Compiled:
        """Render to SQL text with ``%s`` placeholders and the bound values."""
        ctx = Ctx()
        return Compiled.of(self._render(ctx), ctx.params)


class Compiled:
    """A compiled statement: ``sql`` (a psycopg composable) and ``params``.

    ``prepare`` asks psycopg to prepare it on the server at once (prepared
    queries); otherwise psycopg prepares statements it sees repeatedly.
    ``read`` marks a statement that only reads (a select without row locks):
    a database with replicas may run it on one.

    Treat it as read-only. It is a plain slotted class, not a frozen
    dataclass, because one is made for every statement run and a frozen
    dataclass's ``__init__`` costs three times as much.
    """

    __slots__ = ("_utf8", "params", "prepare", "read", "sql")

    def __init__(
        self,
        sql: pg.Composed,
        params: tuple[Any, ...],
        prepare: bool | None = None,
        _utf8: list[bytes] | None = None,
        read: bool = False,
    ) -> None:
        self.sql = sql
        self.params = params
        self.prepare = prepare
        # The UTF-8 text, once rendered; shared by the runs of a prepared query.
        self._utf8: list[bytes] = [] if _utf8 is None else _utf8
        self.read = read

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Compiled)
            and (self.sql, self.params, self.prepare, self.read)
            == (other.sql, other.params, other.prepare, other.read)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Compiled(sql={self.sql!r}, params={self.params!r}, "
            f"prepare={self.prepare!r}, read={self.read!r})"
        )

    def query(self, encoding: str) -> bytes | pg.Composed:
        """What the executor sends: the UTF-8 text, rendered once and kept
        (prepared queries reuse it), or the composable for other encodings."""
        if encoding != "utf-8":
            return self.sql
        if not self._utf8:
            self._utf8.append(text_of(self.sql).encode())
        return self._utf8[0]

    @staticmethod
    def of(statement: pg.Composable, params: list[Any], read: bool = False) -> Compiled:
        if not isinstance(statement, pg.Composed):
            statement = Frag([statement])
        return Compiled(statement, tuple(params), read=read)

    def as_string(self, context: Any = None) -> str:
        """The SQL text, as psycopg renders it (placeholders, not values)."""
        return text_of(self.sql) if context is None else self.sql.as_string(context)


# A value or expression comparable with an ``Expr[T]``. With the second
# overload of each comparison, nullable and non-nullable columns of the same
# type compare with each other in either order.
Operand: TypeAlias = T | Expr[T] | Expr[T | None]

Value = Any


def _operand(value: Any, ctx: Ctx, column: Column[Any] | None) -> pg.Composable:
    """Render an operand: an expression as SQL, anything else as a parameter."""
    if isinstance(value, Placeholder):
        # The value comes later; the slot remembers how to dump it.
        return ctx.param(Slot(value.name, column))
    if isinstance(value, Expr):
        if isinstance(value, (Raw, BinOp)):  # a tuple: `A | B` builds a union per call
            return Frag([_OPEN, value._render(ctx), _CLOSE])
        return value._render(ctx)
    return ctx.param(column.dump(value) if column is not None else adapt(value))


def adapt(value: Any) -> Any:
    """Wrap values psycopg cannot adapt on their own (dicts become jsonb)."""
    if isinstance(value, dict):
        return Jsonb(value)
    return value


_MIRROR = {"=": "=", "<>": "<>", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
_OPEN = pg.SQL("(")
_CLOSE = pg.SQL(")")
_AND = pg.SQL(" AND ")
_OR = pg.SQL(" OR ")
_AS = pg.SQL(" AS ")


@lru_cache(maxsize=64)
def _op(op: str) -> pg.SQL:
    return pg.SQL(f" {op} ")


def _column_of(expr: Any) -> Column[Any] | None:
    return expr if isinstance(expr, Expr) and expr.is_column else None  # type: ignore[return-value]


@fast_init
@dataclass(frozen=True, slots=True)
class Param(Expr[T]):
    """A bound value (``%s``). ``column`` decides how the value is dumped."""

    value: Any
    column: Column[Any] | None = None

    def _render(self, ctx: Ctx) -> pg.Composable:
        return _operand(self.value, ctx, self.column)


@fast_init
@dataclass(frozen=True, slots=True)
class Placeholder(Expr[Any]):
    """A named value supplied when a prepared query runs: ``placeholder("id")``."""

    name: str

    def _render(self, ctx: Ctx) -> pg.Composable:
        return _operand(self, ctx, None)


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a placeholder's value goes among a compiled statement's params."""

    name: str
    column: Column[Any] | None

    def fill(self, value: Any) -> Any:
        return self.column.dump(value) if self.column is not None else adapt(value)


def placeholder(name: str) -> Expr[Any]:
    """A value given later, by name, to a prepared query::

        by_id = db.select().from_(Users).where(eq(Users.id, placeholder("id"))).prepare()
        by_id.first(id="user_1")
    """
    if not name or not name.isidentifier():
        raise ValueError(f"placeholder name must be an identifier, not {name!r}")
    return Placeholder(name)


@fast_init
@dataclass(frozen=True, slots=True)
class BinOp(Expr[T]):
    """``left <op> right`` for a fixed set of operators."""

    left: Any
    operator: str
    right: Any

    def _render(self, ctx: Ctx) -> pg.Composable:
        left, op, right = self.left, self.operator, self.right
        if getattr(left, "is_any", False) and op in _MIRROR:
            # ANY(...) only stands on the right: "x = ANY(col)".
            left, op, right = right, _MIRROR[op], left
        column = _column_of(left) or _column_of(right)
        return Frag([_operand(left, ctx, column), _op(op), _operand(right, ctx, column)])


@fast_init
@dataclass(frozen=True, slots=True)
class BoolOp(Expr[bool]):
    """``(a AND b AND ...)`` or ``(a OR b OR ...)``."""

    operator: Literal["AND", "OR"]
    items: tuple[Expr[Any], ...]

    def _render(self, ctx: Ctx) -> pg.Composable:
        # sql.empty() fragments are left out, so conditions can be built up.
        items = [i for i in self.items if not (isinstance(i, Raw) and not i.parts)]
        if not items:
            return pg.SQL("true" if self.operator == "AND" else "false")
        sep = _AND if self.operator == "AND" else _OR
        return Frag([_OPEN, join(sep, [item._render(ctx) for item in items]), _CLOSE])


@fast_init
@dataclass(frozen=True, slots=True)
class Not(Expr[bool]):
    item: Expr[Any]

    def _render(self, ctx: Ctx) -> pg.Composable:
        return fmt("NOT ({})", self.item._render(ctx))


@fast_init
@dataclass(frozen=True, slots=True)
class IsNull(Expr[bool]):
    item: Expr[Any]
    negated: bool = False

    def _render(self, ctx: Ctx) -> pg.Composable:
        suffix = " IS NOT NULL" if self.negated else " IS NULL"
        return Frag([_operand(self.item, ctx, None), pg.SQL(suffix)])


@fast_init
@dataclass(frozen=True, slots=True)
class InList(Expr[bool]):
    """``x = ANY(%s)`` with one array parameter, so the SQL text does not
    depend on the list's length; ``x IN (subquery)`` for a subquery."""

    item: Expr[Any]
    values: Any
    negated: bool = False

    def _render(self, ctx: Ctx) -> pg.Composable:
        left = _operand(self.item, ctx, None)
        if isinstance(self.values, Expr):
            keyword = pg.SQL(" NOT IN " if self.negated else " IN ")
            return Frag([left, keyword, self.values._render(ctx)])
        column = _column_of(self.item)
        if any(isinstance(v, Expr) for v in self.values):
            items = join(pg.SQL(", "), (_operand(v, ctx, column) for v in self.values))
            op = " NOT IN ({})" if self.negated else " IN ({})"
            return Frag([left, fmt(op, items)])
        values = [column.dump(v) if column is not None else v for v in self.values]
        array = ctx.param(values)
        if column is not None and column.cast_params:
            array = fmt("{}::{}[]", array, column.type_sql())
        op = " <> ALL({})" if self.negated else " = ANY({})"
        return Frag([left, fmt(op, array)])


@fast_init
@dataclass(frozen=True, slots=True)
class Between(Expr[bool]):
    item: Expr[Any]
    low: Any
    high: Any
    negated: bool = False

    def _render(self, ctx: Ctx) -> pg.Composable:
        column = _column_of(self.item)
        template = "{} NOT BETWEEN {} AND {}" if self.negated else "{} BETWEEN {} AND {}"
        return fmt(
            template,
            _operand(self.item, ctx, None),
            _operand(self.low, ctx, column),
            _operand(self.high, ctx, column),
        )


@fast_init
@dataclass(frozen=True, slots=True)
class Exists(Expr[bool]):
    query: Expr[Any]
    negated: bool = False

    def _render(self, ctx: Ctx) -> pg.Composable:
        keyword = pg.SQL("NOT EXISTS " if self.negated else "EXISTS ")
        return Frag([keyword, self.query._render(ctx)])


@fast_init
@dataclass(frozen=True, slots=True)
class Func(Expr[T]):
    """A call of a built-in function; ``name`` comes from pgbuild, never a user."""

    name: str
    args: tuple[Any, ...] = ()
    distinct: bool = False
    star: bool = False

    def _render(self, ctx: Ctx) -> pg.Composable:
        if self.star:
            inner: pg.Composable = pg.SQL("*")
        else:
            inner = join(pg.SQL(", "), (_operand(a, ctx, None) for a in self.args))
            if self.distinct:
                inner = Frag([pg.SQL("DISTINCT "), inner])
        return fmt("{}({})", pg.SQL(self.name), inner)


@fast_init
@dataclass(frozen=True, slots=True)
class Cast(Expr[T]):
    """``value::type`` where the type name is trusted (from pgbuild)."""

    item: Any
    type_name: str

    def _render(self, ctx: Ctx) -> pg.Composable:
        return fmt("{}::{}", _operand(self.item, ctx, None), literal_sql(self.type_name))


@fast_init
@dataclass(frozen=True, slots=True)
class Raw(Expr[T]):
    """Raw SQL: trusted text interleaved with expressions and bound values.

    Built by :func:`pgbuild.sql`; ``parts`` are ``str`` (SQL text) or
    :class:`Expr` nodes (parameters are :class:`Param` nodes).
    """

    parts: tuple[str | Expr[Any], ...]
    decoder: Callable[[Any], Any] | None = None

    def _render(self, ctx: Ctx) -> pg.Composable:
        return Frag(
            [literal_sql(p) if isinstance(p, str) else p._render(ctx) for p in self.parts]
        )

    def map_with(self, fn: Callable[[Any], U]) -> Raw[U]:
        """Decode this fragment's value with ``fn`` when it is selected."""
        return Raw(self.parts, fn)


def check_name(name: str, where: str) -> str:
    """An operator class or similar bare name spliced into DDL."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        from pgbuild.errors import QueryError

        raise QueryError(f"{where}: {name!r} is not a name")
    return name


@fast_init
@dataclass(frozen=True, slots=True)
class OpClass(Expr[T]):
    """``expr opclass``: an index column with its operator class."""

    item: Expr[T]
    opclass: str

    def _render(self, ctx: Ctx) -> pg.Composable:
        return Frag([self.item._render(ctx), pg.SQL(" " + self.opclass)])


@fast_init
@dataclass(frozen=True, slots=True)
class Labelled(Expr[T]):
    """``expr AS "label"`` in a select list."""

    item: Expr[T]
    label: str

    def _render(self, ctx: Ctx) -> pg.Composable:
        from pgbuild.render import ident

        return Frag([self.item._render(ctx), _AS, ident(self.label)])


@fast_init
@dataclass(frozen=True, slots=True)
class OrderBy(Expr[Any]):
    """An ``ORDER BY`` item: ``expr ASC|DESC [NULLS FIRST|LAST]``."""

    item: Expr[Any]
    descending: bool = False
    nulls: Literal["first", "last"] | None = None

    def _render(self, ctx: Ctx) -> pg.Composable:
        parts = [self.item._render(ctx), pg.SQL(" DESC" if self.descending else " ASC")]
        if self.nulls is not None:
            parts.append(pg.SQL(" NULLS FIRST" if self.nulls == "first" else " NULLS LAST"))
        return Frag(parts)


@fast_init
@dataclass(frozen=True, slots=True)
class Excluded(Expr[T]):
    """``excluded."column"``: the row proposed for insertion, in ON CONFLICT."""

    column: Column[T]

    def _render(self, ctx: Ctx) -> pg.Composable:
        from pgbuild.render import ident

        return ident("excluded", self.column.db_name)


# ---------------------------------------------------------------- comparisons


@overload
def eq(left: Expr[T], right: Expr[T] | Expr[T | None]) -> Expr[bool]: ...
@overload
def eq(left: Expr[T | None], right: Expr[T]) -> Expr[bool]: ...
@overload
def eq(left: Expr[T], right: T) -> Expr[bool]: ...
@overload
def eq(left: Expr[T | None], right: T) -> Expr[bool]: ...
def eq(left: Expr[Any], right: Any) -> Expr[bool]:
    """``left = right``. ``eq(Users.id, "u1")``."""
    return BinOp(left, "=", right)


@overload
def ne(left: Expr[T], right: Expr[T] | Expr[T | None]) -> Expr[bool]: ...
@overload
def ne(left: Expr[T | None], right: Expr[T]) -> Expr[bool]: ...
@overload
def ne(left: Expr[T], right: T) -> Expr[bool]: ...
@overload
def ne(left: Expr[T | None], right: T) -> Expr[bool]: ...
def ne(left: Expr[Any], right: Any) -> Expr[bool]:
    """``left <> right``."""
    return BinOp(left, "<>", right)


@overload
def gt(left: Expr[T], right: Expr[T] | Expr[T | None]) -> Expr[bool]: ...
@overload
def gt(left: Expr[T | None], right: Expr[T]) -> Expr[bool]: ...
@overload
def gt(left: Expr[T], right: T) -> Expr[bool]: ...
@overload
def gt(left: Expr[T | None], right: T) -> Expr[bool]: ...
def gt(left: Expr[Any], right: Any) -> Expr[bool]:
    """``left > right``."""
    return BinOp(left, ">", right)


@overload
def gte(left: Expr[T], right: Expr[T] | Expr[T | None]) -> Expr[bool]: ...
@overload
def gte(left: Expr[T | None], right: Expr[T]) -> Expr[bool]: ...
@overload
def gte(left: Expr[T], right: T) -> Expr[bool]: ...
@overload
def gte(left: Expr[T | None], right: T) -> Expr[bool]: ...
def gte(left: Expr[Any], right: Any) -> Expr[bool]:
    """``left >= right``."""
    return BinOp(left, ">=", right)


@overload
def lt(left: Expr[T], right: Expr[T] | Expr[T | None]) -> Expr[bool]: ...
@overload
def lt(left: Expr[T | None], right: Expr[T]) -> Expr[bool]: ...
@overload
def lt(left: Expr[T], right: T) -> Expr[bool]: ...
@overload
def lt(left: Expr[T | None], right: T) -> Expr[bool]: ...
def lt(left: Expr[Any], right: Any) -> Expr[bool]:
    """``left < right``."""
    return BinOp(left, "<", right)


@overload
def lte(left: Expr[T], right: Expr[T] | Expr[T | None]) -> Expr[bool]: ...
@overload
def lte(left: Expr[T | None], right: Expr[T]) -> Expr[bool]: ...
@overload
def lte(left: Expr[T], right: T) -> Expr[bool]: ...
@overload
def lte(left: Expr[T | None], right: T) -> Expr[bool]: ...
def lte(left: Expr[Any], right: Any) -> Expr[bool]:
    """``left <= right``."""
    return BinOp(left, "<=", right)


def like(left: Expr[str] | Expr[str | None], pattern: Operand[str]) -> Expr[bool]:
    """``left LIKE pattern``: ``like(Users.email, "%@company.com")``."""
    return BinOp(left, "LIKE", pattern)


def ilike(left: Expr[str] | Expr[str | None], pattern: Operand[str]) -> Expr[bool]:
    """``left ILIKE pattern`` (case-insensitive)."""
    return BinOp(left, "ILIKE", pattern)


def not_like(left: Expr[str] | Expr[str | None], pattern: Operand[str]) -> Expr[bool]:
    """``left NOT LIKE pattern``."""
    return BinOp(left, "NOT LIKE", pattern)


def not_ilike(left: Expr[str] | Expr[str | None], pattern: Operand[str]) -> Expr[bool]:
    """``left NOT ILIKE pattern``."""
    return BinOp(left, "NOT ILIKE", pattern)


def in_(left: Expr[T], values: Sequence[T | Expr[T]] | Expr[Any]) -> Expr[bool]:
    """``left = ANY(values)``; an empty list is false. A subquery gives ``IN (...)``."""
    if not isinstance(values, Expr) and len(values) == 0:
        return Raw(("false",))
    return InList(left, values if isinstance(values, Expr) else tuple(values))


def not_in(left: Expr[T], values: Sequence[T | Expr[T]] | Expr[Any]) -> Expr[bool]:
    """``left <> ALL(values)``; an empty list is true."""
    if not isinstance(values, Expr) and len(values) == 0:
        return Raw(("true",))
    return InList(left, values if isinstance(values, Expr) else tuple(values), negated=True)


def is_null(item: Expr[Any]) -> Expr[bool]:
    """``item IS NULL``."""
    return IsNull(item)


def is_not_null(item: Expr[Any]) -> Expr[bool]:
    """``item IS NOT NULL``."""
    return IsNull(item, negated=True)


def between(item: Expr[T], low: Operand[T], high: Operand[T]) -> Expr[bool]:
    """``item BETWEEN low AND high`` (inclusive)."""
    return Between(item, low, high)


def not_between(item: Expr[T], low: Operand[T], high: Operand[T]) -> Expr[bool]:
    """``item NOT BETWEEN low AND high``."""
    return Between(item, low, high, negated=True)


def exists(query: Expr[Any]) -> Expr[bool]:
    """``EXISTS (subquery)``."""
    return Exists(query)


def not_exists(query: Expr[Any]) -> Expr[bool]:
    """``NOT EXISTS (subquery)``."""
    return Exists(query, negated=True)


def array_contains(left: Expr[Any], values: Sequence[Any] | Expr[Any]) -> Expr[bool]:
    """``left @> values``: the array holds every one of ``values``."""
    return BinOp(left, "@>", values if isinstance(values, Expr) else list(values))


def array_contained(left: Expr[Any], values: Sequence[Any] | Expr[Any]) -> Expr[bool]:
    """``left <@ values``: every element of the array is one of ``values``."""
    return BinOp(left, "<@", values if isinstance(values, Expr) else list(values))


def array_overlaps(left: Expr[Any], values: Sequence[Any] | Expr[Any]) -> Expr[bool]:
    """``left && values``: the array shares an element with ``values``."""
    return BinOp(left, "&&", values if isinstance(values, Expr) else list(values))


# ------------------------------------------------------------------ logic


def and_(*items: Expr[Any] | None) -> Expr[bool]:
    """All conditions hold; ``None`` items are skipped, so filters can be optional."""
    return BoolOp("AND", tuple(i for i in items if i is not None))


def or_(*items: Expr[Any] | None) -> Expr[bool]:
    """At least one condition holds; ``None`` items are skipped."""
    return BoolOp("OR", tuple(i for i in items if i is not None))


def not_(item: Expr[Any]) -> Expr[bool]:
    """``NOT (item)``."""
    return Not(item)


# ------------------------------------------------------------------ ordering


def asc(item: Expr[Any], *, nulls: Literal["first", "last"] | None = None) -> OrderBy:
    """Ascending order, optionally ``nulls="first"`` or ``"last"``."""
    return OrderBy(item, False, nulls)


def desc(item: Expr[Any], *, nulls: Literal["first", "last"] | None = None) -> OrderBy:
    """Descending order: ``order_by(desc(Users.created_at))``."""
    return OrderBy(item, True, nulls)


# ------------------------------------------------------------------ functions


def count(item: Expr[Any] | None = None) -> Expr[int]:
    """``count(*)``, or ``count(item)`` (non-null values)."""
    return Func("count", star=True) if item is None else Func("count", (item,))


def count_distinct(item: Expr[Any]) -> Expr[int]:
    """``count(DISTINCT item)``."""
    return Func("count", (item,), distinct=True)


def sum_(item: Expr[Any]) -> Expr[Any]:
    """``sum(item)``: int for integer columns, Decimal for numeric; None over no rows."""
    return Func("sum", (item,))


def avg(item: Expr[Any]) -> Expr[Decimal | None]:
    """``avg(item)``."""
    return Func("avg", (item,))


def min_(item: Expr[T]) -> Expr[T | None]:
    """``min(item)``."""
    return Func("min", (item,))


def max_(item: Expr[T]) -> Expr[T | None]:
    """``max(item)``."""
    return Func("max", (item,))


def coalesce(*items: Any) -> Expr[Any]:
    """``coalesce(a, b, ...)``: the first non-null argument."""
    return Func("coalesce", items)


def jsonb_set(
    target: Expr[Any], path: Sequence[str], value: Any, create_missing: bool = True
) -> Expr[Any]:
    """``jsonb_set(target, path, value)``: set a key deep inside a jsonb document.

    ``path`` and ``value`` are bound parameters::

        set={"metadata": jsonb_set(Users.metadata, ["preferences", "theme"], "dark")}
    """
    return Func(
        "jsonb_set",
        (
            target,
            Cast(Param(list(path)), "text[]"),
            Cast(Param(Jsonb(value)), "jsonb"),
            Param(create_missing),
        ),
    )


def excluded(column: Column[T]) -> Expr[T]:
    """The value proposed for ``column`` in ``on_conflict_do_update(set=...)``."""
    return Excluded(column)
