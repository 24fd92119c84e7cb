"""Relational queries: rows with their related rows, in one statement.

::

    user = db.query(Users).find_first(
        where=eq(Users.id, "u1"),
        with_={"sessions": {"order_by": desc(Sessions.created_at), "limit": 10}},
    )
    user.sessions          # a list of Sessions rows, newest first, at most 10

Every level takes the same options: ``where``, ``order_by`` (one item or a
list), ``limit``, ``offset``, ``columns`` (``{"id": True}`` to include,
``{"refresh_token": False}`` to exclude), ``extras`` (``{"n": sql(...)}``)
and ``with_`` (relation name → ``True`` or the options of that level).

How it compiles: the top level is a plain ``SELECT`` whose values psycopg
loads as usual. Each relation is a correlated subquery in the select list,
with its own where/order/limit (so a limit is per parent row), that
aggregates its rows as JSON arrays (``json_agg``; ``'[]'`` when empty) or,
for a ``one`` relation, returns one array or NULL. Nested values come back
with the types a top-level select gives: :mod:`pgbuild.queries.nested` says
how they travel inside JSON and are decoded.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypedDict, TypeVar, Unpack, cast, overload

from psycopg import sql as pg

from pgbuild.columns import Column
from pgbuild.compiler import limit_offset, order_items
from pgbuild.errors import QueryError
from pgbuild.expressions import Compiled, Expr, Labelled, OrderBy
from pgbuild.frozen import fast_init
from pgbuild.queries.base import (
    Async,
    Executor,
    Finish,
    M,
    Sync,
    all_rows,
    first_row,
)
from pgbuild.queries.nested import (
    MAX_ARGS,
    Shape,
    extra_post,
    nested_value,
    output_text,
    row_class,
    top_maker,
)
from pgbuild.relations import Link, link
from pgbuild.render import Ctx, Frag, fmt, ident, join, keyword, text_of
from pgbuild.rows import Zoned
from pgbuild.table import Table

if TYPE_CHECKING:
    from pgbuild.queries.prepared import Prepared

TT = TypeVar("TT", bound=Table)

COMMA = pg.SQL(", ")
AND = pg.SQL(" AND ")


class FirstOptions(TypedDict, total=False):
    """The options of ``find_first``; see :class:`RelationOptions`."""

    where: Expr[bool] | None
    order_by: Expr[Any] | Sequence[Expr[Any]] | None
    offset: int | Expr[int] | None
    columns: Mapping[str, bool] | None
    extras: Mapping[str, Expr[Any]] | None
    with_: Mapping[str, bool | RelationOptions] | None


class RelationOptions(FirstOptions, total=False):
    """The options of ``find_many`` and of every level in ``with_``."""

    limit: int | Expr[int] | None


_OPTIONS = frozenset(RelationOptions.__annotations__) | frozenset(FirstOptions.__annotations__)


@dataclasses.dataclass(frozen=True, slots=True)
class RelationalQuery(Generic[TT, M]):
    """``db.query(Users)``: ``find_many(...)`` and ``find_first(...)`` return
    rows of the table with their relations as attributes (see the module
    docstring). Relations are declared with :func:`pgbuild.relations`.
    """

    _executor: Executor | None = dataclasses.field(repr=False, compare=False)
    _table: type[TT]

    @overload
    def find_many(
        self: RelationalQuery[TT, Sync], **options: Unpack[RelationOptions]
    ) -> list[Any]: ...
    @overload
    def find_many(
        self: RelationalQuery[TT, Async], **options: Unpack[RelationOptions]
    ) -> Coroutine[Any, Any, list[Any]]: ...
    def find_many(self, **options: Unpack[RelationOptions]) -> Any:
        """Every matching row, each with the relations asked for in ``with_``.

        >>> db.query(Users).find_many(order_by=Users.email, limit=20,
        ...                           with_={"sessions": {"with_": {"prompts": True}}})
        """
        return self._run(options, all_rows, first=False)

    @overload
    def find_first(self: RelationalQuery[TT, Sync], **options: Unpack[FirstOptions]) -> Any: ...
    @overload
    def find_first(
        self: RelationalQuery[TT, Async], **options: Unpack[FirstOptions]
    ) -> Coroutine[Any, Any, Any]: ...
    def find_first(self, **options: Unpack[FirstOptions]) -> Any:
        """The first matching row with its relations, or ``None``.

        >>> db.query(Users).find_first(where=eq(Users.id, "u1"), with_={"sessions": True})
        """
        if "limit" in options:
            raise QueryError(f"find_first on {self._table.__table__.name} takes no limit")
        return self._run(cast(RelationOptions, options), first_row, first=True)

    def compile(self, *, first: bool = False, **options: Unpack[RelationOptions]) -> Compiled:
        """The statement ``find_many(**options)`` (or ``find_first``) would run."""
        return _build(self._table, options, first)[0]

    def prepare(self, **options: Unpack[RelationOptions]) -> Prepared[Any, M]:
        """Compile ``find_many(**options)`` once, with ``placeholder(...)`` values
        in ``where``/``limit``/``offset`` at any level; run it with ``.all(**values)``
        or ``.first(**values)``.

        >>> by_id = db.query(Users).prepare(where=eq(Users.id, placeholder("id")), limit=1,
        ...                                 with_={"sessions": True})
        >>> by_id.first(id="u1")
        """
        from pgbuild.queries.prepared import Prepared

        compiled, maker = _build(self._table, options, False)
        return Prepared(cast(Any, _Built(self._exec(), compiled, maker)))

    def _exec(self) -> Executor:
        if self._executor is None:
            raise QueryError("this query was built without a database; use db.query(...)")
        return self._executor

    def _run(self, options: RelationOptions, finish: Finish, *, first: bool) -> Any:
        compiled, maker = _build(self._table, options, first)
        return self._exec()._fetch(compiled, maker, finish)


@dataclasses.dataclass(frozen=True, slots=True)
class _Built:
    """A compiled relational query in the shape :class:`Prepared` expects."""

    executor: Executor
    compiled: Compiled
    maker: Callable[[Sequence[Any]], Any]

    def _exec(self) -> Executor:
        return self.executor

    def compile(self) -> Compiled:
        return self.compiled

    def _maker(self) -> Callable[[Sequence[Any]], Any]:
        return self.maker


# ------------------------------------------------------------------ planning


@fast_init  # two or more per query
@dataclasses.dataclass(frozen=True, slots=True)
class _Level:
    """One level of the result tree: a table under an alias, and its options."""

    table: type[Table]
    alias: str
    columns: tuple[Column[Any], ...]
    extras: tuple[tuple[str, Expr[Any]], ...]
    children: tuple[tuple[Link, _Level], ...]
    where: Expr[bool] | None
    order_by: tuple[Expr[Any], ...]
    limit: Any
    offset: Any


def _plan(
    table: type[Table], options: Mapping[str, Any], where: str, aliases: Iterator[int]
) -> _Level:
    if not isinstance(options, Mapping):
        raise QueryError(f"{where}: options must be a dict, not {options!r}")
    unknown = set(options) - _OPTIONS
    if unknown:
        raise QueryError(f"{where}: unknown options {sorted(unknown)}; use {sorted(_OPTIONS)}")
    alias = f"t{next(aliases)}"
    columns = _columns(table, _mapping(options, "columns", where), where)
    children: list[tuple[Link, _Level]] = []
    for name, sub in _mapping(options, "with_", where).items():
        if sub is False or sub is None:
            continue
        rel = link(table, name)
        child_where = f"relation {name!r} of {table.__table__.name}"
        sub_options = {} if sub is True else sub
        if not isinstance(sub_options, Mapping):
            raise QueryError(f"{child_where}: give True or a dict of options, not {sub!r}")
        if not rel.many and sub_options.get("limit") is not None:
            raise QueryError(f"{child_where} is one row: it takes no limit")
        children.append((rel, _plan(rel.target, sub_options, child_where, aliases)))
    relation_names = {r.name for r, _ in children}
    extras = _extras(table, _mapping(options, "extras", where), relation_names, where)
    condition = options.get("where")
    if condition is not None and not isinstance(condition, Expr):
        raise QueryError(f"{where}: where takes a condition like eq(...), not {condition!r}")
    order = options.get("order_by")
    items = () if order is None else (order,) if isinstance(order, Expr) else tuple(order)
    if any(not isinstance(o, Expr) for o in items):
        raise QueryError(f"{where}: order_by takes expressions, asc(...) or desc(...)")
    return _Level(
        table,
        alias,
        columns,
        extras,
        tuple(children),
        condition,
        order_items(items),
        _count(options.get("limit"), "limit", where),
        _count(options.get("offset"), "offset", where),
    )


def _mapping(options: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = options.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise QueryError(f"{where}: {key} takes a dict, not {value!r}")
    return value


def _columns(
    table: type[Table], chosen: Mapping[str, Any], where: str
) -> tuple[Column[Any], ...]:
    """``{"a": True}`` selects only the columns given True; with none True,
    ``{"a": False}`` selects every column but those given False."""
    meta = table.__table__
    if not chosen:
        return meta.columns
    for attr, flag in chosen.items():
        if attr not in meta.by_attr:
            raise QueryError(f"{where}: table {meta.name} has no column {attr!r}")
        if not isinstance(flag, bool):
            raise QueryError(f"{where}: columns[{attr!r}] must be True or False, not {flag!r}")
    if any(chosen.values()):
        return tuple(c for c in meta.columns if chosen.get(c.attr))
    return tuple(c for c in meta.columns if chosen.get(c.attr, True))


def _extras(
    table: type[Table], extras: Mapping[str, Any], relation_names: set[str], where: str
) -> tuple[tuple[str, Expr[Any]], ...]:
    out = []
    for name, expr in extras.items():
        if not isinstance(expr, Expr):
            raise QueryError(f"{where}: extras[{name!r}] must be an expression like sql(...)")
        if name in table.__table__.by_attr or name in relation_names or hasattr(Table, name):
            raise QueryError(f"{where}: extra {name!r} clashes with a column, relation or method")
        out.append((name, expr.item if isinstance(expr, Labelled) else expr))
    return tuple(out)


def _count(value: Any, what: str, where: str) -> Any:
    if isinstance(value, bool) or (isinstance(value, int) and value < 0):
        raise QueryError(f"{where}: {what} must be a non-negative integer, not {value!r}")
    if value is not None and not isinstance(value, int | Expr):
        raise QueryError(f"{where}: {what} must be an integer, not {value!r}")
    return value


# ------------------------------------------------------------------ rendering


def _build(
    table: type[Table], options: Mapping[str, Any], first: bool
) -> tuple[Compiled, Callable[[Sequence[Any]], Any]]:
    level = _plan(table, options, table.__table__.name, itertools.count())
    ctx = Ctx()
    statement = _top(level, ctx, first)
    return Compiled.of(statement, ctx.params, read=True), Zoned(top_maker(_shape(level)))


def _top(level: _Level, ctx: Ctx, first: bool) -> pg.Composable:
    scope = {level.table.__alias__: level.alias}
    items: list[pg.Composable] = [_column_refs(level.alias, level.columns)] if level.columns else []
    items += [_user(expr, ctx, scope) for _, expr in level.extras]
    items += [_nested(rel, child, level, ctx, scope) for rel, child in level.children]
    parts = [keyword("SELECT "), join(COMMA, items), keyword(" FROM "), _from(level)]
    if level.where is not None:
        parts += [keyword(" WHERE "), _user(level.where, ctx, scope)]
    parts += _order_clause(level, ctx, scope)
    if first:
        parts.append(keyword(" LIMIT 1"))
    parts += limit_offset(None if first else level.limit, level.offset, ctx)
    return Frag(parts)


def _nested(
    rel: Link, level: _Level, parent: _Level, ctx: Ctx, outer: Mapping[str, str]
) -> pg.Composable:
    """The correlated subquery giving ``parent``'s related rows as JSON.

    Parameters are collected in the order they appear in the text, so the
    parts are rendered from left to right.
    """
    scope = {**outer, level.table.__alias__: level.alias}
    lateral = f"{level.alias}_x"
    values: list[pg.Composable] = [*_nested_values(level.alias, level.columns)]
    for i in range(len(level.extras)):
        ref = ident(lateral, f"e{i}")
        values += [output_text(ref), fmt("pg_typeof({})::oid", ref)]
    values += [_nested(r, child, level, ctx, scope) for r, child in level.children]
    parts: list[pg.Composable] = [keyword("SELECT "), _json_array(values)]
    ordered = rel.many and bool(level.order_by)
    if rel.many:
        parts.append(keyword(' AS "j"'))
    if ordered:
        # json_agg orders by these keys explicitly (a sorted subquery alone
        # does not promise its order); cheaper than numbering the rows.
        keys = [
            fmt("{} AS {}", _user(o.item, ctx, scope), ident(f"o{i}"))
            for i, o in enumerate(cast(Sequence[OrderBy], level.order_by))
        ]
        parts += [COMMA, join(COMMA, keys)]
    parts += [keyword(" FROM "), _from(level)]
    if level.extras:
        computed = join(
            COMMA,
            (fmt("({}) AS {}", _user(expr, ctx, scope), ident(f"e{i}"))
            for i, (_, expr) in enumerate(level.extras))
        )
        lateral_sql = " CROSS JOIN LATERAL (SELECT {}) AS {}"
        parts.append(fmt(lateral_sql, computed, ident(lateral)))
    conditions = [_link_condition(rel, level.alias, parent.alias)]
    if level.where is not None:
        conditions.append(fmt("({})", _user(level.where, ctx, scope)))
    parts += [keyword(" WHERE "), join(AND, conditions)]
    parts += _order_clause(level, ctx, scope)
    if not rel.many:
        parts.append(keyword(" LIMIT 1"))
    parts += limit_offset(level.limit if rel.many else None, level.offset, ctx)
    inner = Frag(parts)
    if not rel.many:
        return fmt("({})", inner)
    if not ordered:
        return fmt("(SELECT coalesce(json_agg(\"r\".\"j\"), '[]'::json) FROM ({}) AS \"r\")", inner)
    return fmt(
        "(SELECT coalesce(json_agg(\"r\".\"j\" ORDER BY {}), '[]'::json) FROM ({}) AS \"r\")",
        _key_order(tuple((o.descending, o.nulls) for o in cast(Sequence[OrderBy], level.order_by))),
        inner,
    )


Nulls = Literal["first", "last"] | None


@functools.lru_cache(maxsize=256)
def _key_order(items: tuple[tuple[bool, Nulls], ...]) -> pg.Composable:
    """``"r"."o0" DESC NULLS LAST, ...``: the level's order (direction, nulls
    of each item), on its exposed keys."""
    return pg.SQL(text_of(join(
        COMMA,
        (OrderBy(_Key(f"o{i}"), descending, nulls)._render(Ctx())
         for i, (descending, nulls) in enumerate(items)),
    )))


@dataclasses.dataclass(frozen=True, slots=True)
class _Key(Expr[Any]):
    """``"r"."<name>"``: an order key of a nested level's subquery."""

    name: str

    def _render(self, ctx: Ctx) -> pg.Composable:
        return ident("r", self.name)


# The column parts of a level hold no values, and repeat from query to query:
# rendered once per alias and column list, to text.


@functools.lru_cache(maxsize=1024)
def _column_refs(alias: str, columns: tuple[Column[Any], ...]) -> pg.SQL:
    return pg.SQL(text_of(join(COMMA, [ident(alias, c.db_name) for c in columns])))


@functools.lru_cache(maxsize=1024)
def _nested_values(alias: str, columns: tuple[Column[Any], ...]) -> tuple[pg.SQL, ...]:
    return tuple(pg.SQL(text_of(nested_value(c, ident(alias, c.db_name)))) for c in columns)


def _order_clause(level: _Level, ctx: Ctx, scope: Mapping[str, str]) -> list[pg.Composable]:
    if not level.order_by:
        return []
    return [keyword(" ORDER BY "), _order(level.order_by, ctx, scope)]


def _order(items: Sequence[Expr[Any]], ctx: Ctx, scope: Mapping[str, str]) -> pg.Composable:
    return join(COMMA, (_user(item, ctx, scope) for item in items))


def _from(level: _Level) -> pg.Composable:
    key: Any = level.table  # a class is hashable, whatever its instances are
    return _table_as(key, level.alias)


@functools.lru_cache(maxsize=1024)
def _table_as(table: Any, alias: str) -> pg.Composable:
    return pg.SQL(text_of(fmt("{} AS {}", _table_name(table), ident(alias))))


def _table_name(table: type[Table]) -> pg.Composable:
    meta = table.__table__
    return ident(meta.schema, meta.name) if meta.schema else ident(meta.name)


@functools.lru_cache(maxsize=1024)
def _link_condition(rel: Link, alias: str, parent: str) -> pg.Composable:
    return pg.SQL(text_of(_link_sql(rel, alias, parent)))


def _link_sql(rel: Link, alias: str, parent: str) -> pg.Composable:
    if rel.through is None:
        return join(AND, (_equal(alias, t, parent, s) for t, s in rel.pairs))
    junction = f"{alias}_j"
    conditions = [_equal(alias, t, junction, j) for t, j in rel.pairs]
    conditions += [_equal(junction, j, parent, s) for j, s in rel.to_source]
    return fmt(
        "EXISTS (SELECT 1 FROM {} AS {} WHERE {})",
        _table_name(rel.through), ident(junction), join(AND, conditions)
    )


def _equal(a: str, col_a: Column[Any], b: str, col_b: Column[Any]) -> pg.Composable:
    return fmt("{} = {}", ident(a, col_a.db_name), ident(b, col_b.db_name))


def _user(expr: Expr[Any], ctx: Ctx, scope: Mapping[str, str]) -> pg.Composable:
    """A user's expression, with its columns on the level aliases."""
    return expr._render(ctx.rebased(scope))


def _json_array(values: list[pg.Composable]) -> pg.Composable:
    if len(values) <= MAX_ARGS:
        return fmt("json_build_array({})", join(COMMA, values))
    chunks = [values[i : i + MAX_ARGS] for i in range(0, len(values), MAX_ARGS)]
    return fmt("json_build_array({})", join(COMMA, (_json_array(c) for c in chunks)))


def _shape(level: _Level) -> Shape:
    return Shape(
        row_class(level.table),
        level.columns,
        tuple((name, extra_post(expr)) for name, expr in level.extras),
        tuple((rel.name, rel.many, _shape(child)) for rel, child in level.children),
    )
