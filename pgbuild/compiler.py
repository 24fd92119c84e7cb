"""The one place that turns query builders into SQL.

Builders collect their parts; these functions render them into psycopg
composables with every value bound as a parameter. The SQL text depends only
on a query's shape, never on its values, so psycopg's prepared statements
are reused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from psycopg import sql as pg

from pgbuild.columns import Column
from pgbuild.expressions import Expr, OrderBy, Placeholder, _operand
from pgbuild.queries.subquery import Subquery
from pgbuild.render import Ctx, Frag, fmt, ident, join, keyword, literal_sql, text_of
from pgbuild.table import Table

if TYPE_CHECKING:
    from pgbuild.queries.delete import Delete
    from pgbuild.queries.insert import Insert, OnConflict
    from pgbuild.queries.select import Lock, Select
    from pgbuild.queries.setops import Compound

# Statement keywords are the same few objects in every statement: build each once.
_k = keyword

COMMA = pg.SQL(", ")
_AS = pg.SQL(" AS ")
_CLOSE = pg.SQL(")")
_EQUALS = pg.SQL(" = ")

# The CTEs visible while a statement renders. A subquery in FROM that names
# one of them renders as a reference ("recent"), any other as a derived table.
def table_ref(table: type[Table]) -> pg.Composable:
    key: Any = table  # a class is hashable, whatever its instances are
    return _table_ref(key)


@lru_cache(maxsize=1024)
def _table_ref(table: Any) -> pg.Composable:
    """``"schema"."name"``, plus ``AS "alias"`` when the table is aliased."""
    meta = table.__table__
    name = ident(meta.schema, meta.name) if meta.schema else ident(meta.name)
    if table.__alias__ != meta.name:
        return fmt("{} AS {}", name, ident(table.__alias__))
    return name


def _list(items: Iterable[Expr[Any]], ctx: Ctx) -> pg.Composable:
    return join(COMMA, (item._render(ctx) for item in items))


def select_list(fields: Sequence[Expr[Any]] | dict[str, Expr[Any]], ctx: Ctx) -> pg.Composable:
    if isinstance(fields, dict):
        return join(
            COMMA,
            [Frag([expr._render(ctx), _AS, ident(label)]) for label, expr in fields.items()]
        )
    return _list(fields, ctx)


def with_clause(q: Any, ctx: Ctx, body: Callable[[Any, Ctx], pg.Composable]) -> pg.Composable:
    """``WITH "a" AS (...), "b" AS (...) <body>`` for the CTEs of ``q``
    (``q._ctes``), each seeing the ones before it; ``body(q, ctx)`` renders
    the statement itself (without a closure: this runs for every statement)."""
    ctes: Sequence[Subquery[Any]] = q._ctes
    if not ctes:
        return body(q, ctx)
    outer = ctx.ctes
    try:
        items = []
        for cte in ctes:
            items.append(fmt("{} AS {}", ident(cte._name), cte._render_query(ctx)))
            ctx.ctes = (*ctx.ctes, cte)
        return Frag([_k("WITH "), join(COMMA, items), _k(" "), body(q, ctx)])
    finally:
        ctx.ctes = outer


def render_select(q: Select[Any, Any], ctx: Ctx) -> pg.Composable:
    return with_clause(q, ctx, _select_body)


def _select_list(q: Select[Any, Any], ctx: Ctx) -> pg.Composable:
    if q._fields is None and ctx.qualify and not ctx.aliases:
        if not q._joins and isinstance(q._from, type) and issubclass(q._from, Table):
            return _whole_tables((q._from,))
        sources = q._sources()
        if sources and all(isinstance(s, type) for s in sources):
            return _whole_tables(tuple(sources))
    return select_list(q._selected(), ctx)


@lru_cache(maxsize=1024)
def _whole_tables(tables: tuple[type[Table], ...]) -> pg.Composable:
    """The select list of whole tables: the same for every query over them,
    and holding no values, so it is rendered once, to one piece of text."""
    return pg.SQL(text_of(_list([c for t in tables for c in t.__table__.columns], Ctx())))


def _select_body(q: Select[Any, Any], ctx: Ctx) -> pg.Composable:
    parts: list[pg.Composable] = [_k("SELECT ")]
    if q._distinct_on:
        parts.append(fmt("DISTINCT ON ({}) ", _list(q._distinct_on, ctx)))
    elif q._distinct:
        parts.append(_k("DISTINCT "))
    parts.append(_select_list(q, ctx))
    if q._from is not None:
        parts += [_k(" FROM "), _source(q._from, ctx)]
    for joined in q._joins:
        lateral = "LATERAL " if joined.lateral else ""
        parts.append(pg.SQL(f" {joined.kind} JOIN {lateral}"))
        parts.append(_source(joined.source, ctx))
        if joined.on is not None:
            parts += [_k(" ON "), joined.on._render(ctx)]
        elif joined.lateral and joined.kind != "CROSS":
            parts.append(_k(" ON true"))
    if q._where is not None:
        parts += [_k(" WHERE "), q._where._render(ctx)]
    if q._group_by:
        parts += [_k(" GROUP BY "), _list(q._group_by, ctx)]
    if q._having is not None:
        parts += [_k(" HAVING "), q._having._render(ctx)]
    if q._order_by:
        parts += [_k(" ORDER BY "), _list(q._order_by, ctx)]
    if q._limit is not None or q._offset is not None:
        parts += limit_offset(q._limit, q._offset, ctx)
    if q._locks:
        parts += [_lock(lock) for lock in q._locks]
    return Frag(parts)


_STRENGTH = {
    "update": "UPDATE",
    "no key update": "NO KEY UPDATE",
    "share": "SHARE",
    "key share": "KEY SHARE",
}


def _lock(lock: Lock) -> pg.Composable:
    parts: list[pg.Composable] = [pg.SQL(" FOR " + _STRENGTH[lock.strength])]
    if lock.of:
        parts += [_k(" OF "), join(COMMA, (ident(t.__alias__) for t in lock.of))]
    if lock.nowait:
        parts.append(_k(" NOWAIT"))
    elif lock.skip_locked:
        parts.append(_k(" SKIP LOCKED"))
    return Frag(parts)


_SET_OPS = {
    "union": "UNION",
    "union all": "UNION ALL",
    "intersect": "INTERSECT",
    "intersect all": "INTERSECT ALL",
    "except": "EXCEPT",
    "except all": "EXCEPT ALL",
}


def render_compound(q: Compound[Any, Any], ctx: Ctx) -> pg.Composable:
    return with_clause(q, ctx, _compound_body)


def _compound_body(q: Compound[Any, Any], ctx: Ctx) -> pg.Composable:
    parts: list[pg.Composable] = [
        _member(q._left, ctx, q._op, left=True),
        pg.SQL(" " + _SET_OPS[q._op] + " "),
        _member(q._right, ctx, q._op, left=False),
    ]
    # ORDER BY of a compound names output columns, so columns render bare.
    if q._order_by:
        parts += [_k(" ORDER BY "), _list(q._order_by, ctx.unqualified())]
    parts += limit_offset(q._limit, q._offset, ctx)
    return Frag(parts)


def limit_offset(limit: Any, offset: Any, ctx: Ctx) -> list[pg.Composable]:
    """`` LIMIT n OFFSET m``, each when given: an int (bound) or an expression."""
    parts: list[pg.Composable] = []
    if limit is not None:
        parts += [_k(" LIMIT "), _operand(limit, ctx, None)]
    if offset is not None:
        parts += [_k(" OFFSET "), _operand(offset, ctx, None)]
    return parts


def _binds(op: str) -> int:
    """INTERSECT binds tighter than UNION and EXCEPT."""
    return 2 if op.startswith("intersect") else 1


def _member(q: Any, ctx: Ctx, op: str, *, left: bool) -> pg.Composable:
    """A set operation's operand, parenthesized unless SQL's own precedence
    already groups it as built: ``a.union(b).intersect(c)`` stays
    ``(a UNION b) INTERSECT c``, ``union(a, b, c)`` reads ``a UNION b UNION c``."""
    from pgbuild.queries.select import Select
    from pgbuild.queries.setops import Compound

    own_clauses = q._order_by or q._limit is not None or q._offset is not None
    if isinstance(q, Select) and not (own_clauses or q._locks or q._ctes):
        return _select_body(q, ctx)
    if isinstance(q, Compound) and left and not own_clauses and _binds(q._op) >= _binds(op):
        return _compound_body(q, ctx)
    return q._render(ctx)  # type: ignore[no-any-return]


def _source(source: Any, ctx: Ctx) -> pg.Composable:
    if isinstance(source, type) and issubclass(source, Table):
        return table_ref(source)
    if isinstance(source, Subquery):
        if any(cte is source for cte in ctx.ctes):
            return ident(source._name)
        return fmt("{} AS {}", source._render_query(ctx), ident(source._name))
    return source._render(ctx)  # type: ignore[no-any-return]


def _returning(q: Any, ctx: Ctx) -> list[Any]:
    fields = q._returning
    if fields is None:
        return []
    if fields is q._table.__table__.columns and ctx.qualify and not ctx.aliases:
        return [_k(" RETURNING "), _whole_tables((q._table,))]  # returning(): rendered once
    return [_k(" RETURNING "), select_list(fields, ctx)]


def _assignments(values: dict[Column[Any], Any], ctx: Ctx) -> pg.Composable:
    return join(
        COMMA,
        (Frag([ident(col.db_name), _EQUALS, _value(col, value, ctx)])
        for col, value in values.items())
    )


def _value(col: Column[Any], value: Any, ctx: Ctx) -> pg.Composable:
    rendered = _operand(value, ctx, col)
    if col.cast_params and (not isinstance(value, Expr) or isinstance(value, Placeholder)):
        return fmt("{}::{}", rendered, col.type_sql())
    return rendered


def _column_values(col: Column[Any], rows: Sequence[dict[Column[Any], Any]]) -> list[Any]:
    if col.needs_dump:
        return [col.dump(row[col]) for row in rows]
    return [row[col] for row in rows]


def _columnar(rows: Sequence[dict[Column[Any], Any]]) -> bool:
    """Whether rows can travel as one array per column: several rows, the
    same keys in each, plain values only, and no array columns (unnest
    would flatten them)."""
    if len(rows) < 2 or not rows[0]:
        return False
    keys = rows[0].keys()
    if any(c.dims for c in keys):
        return False
    return all(
        row.keys() == keys and not any(isinstance(v, Expr) for v in row.values()) for row in rows
    )


# Types whose arrays psycopg dumps in binary and the server casts from what
# it sends (text[] for str, int8[] for int, ...): several times faster than
# the text form for big arrays. Others (enums, json, custom types) go as text.
_BINARY_ARRAYS = frozenset(
    {"text", "bpchar", "smallint", "integer", "bigint", "boolean", "real", "double precision",
     "numeric", "date", "time without time zone", "timestamp with time zone",
     "timestamp without time zone", "interval", "uuid", "bytea"}
)


def _array_param(col: Column[Any], values: list[Any], ctx: Ctx) -> pg.Composable:
    if not col.enum_type and _unmodified(col.sql_type) in _BINARY_ARRAYS:
        return ctx.binary_param(values)
    return ctx.param(values)


def _unnest_columns(q: Insert[Any, Any]) -> list[tuple[Column[Any], list[Any]]] | None:
    """Each column's values for the unnest form, or None when the rows do not
    fit it (one row, different keys, expressions, arrays, or values psycopg
    cannot put in one array)."""
    if q._arrays is not None:
        pairs: Sequence[tuple[Column[Any], list[Any]]] = q._arrays
    elif _columnar(q._rows):
        pairs = [(c, _column_values(c, q._rows)) for c in q._insert_columns()]
    else:
        return None
    out = []
    for col, values in pairs:
        same = _one_type(values)
        if same is None:
            return None
        out.append((col, same))
    return out


def _one_type(values: list[Any]) -> list[Any] | None:
    """``values`` with one Python type besides None, as psycopg's arrays need
    (it refuses ``[1, 2.5]``): numbers are widened the way the server would
    read them (int with float → float, with Decimal → Decimal). None when
    other types mix."""
    kinds = set(map(type, values)) - {type(None)}
    if len(kinds) <= 1:
        return values
    if kinds <= {int, float}:
        return [None if v is None else float(v) for v in values]
    if kinds <= {int, float, Decimal}:
        # repr: the float's shortest text, which is what psycopg would send.
        return [v if v is None or type(v) is Decimal else Decimal(repr(v)) for v in values]
    return None


@lru_cache(maxsize=1024)
def _array_cast(col: Column[Any]) -> pg.Composable:
    # The base type, without a modifier: an explicit cast to varchar(5) would
    # silently truncate, while the insert's own assignment cast checks.
    base = col.type_sql() if col.enum_type else literal_sql(_unmodified(col.sql_type))
    return Frag([_k("::"), base, _k("[]")])


def _unmodified(sql_type: str) -> str:
    """The type without its length/precision: ``character varying(5)`` →
    ``text``, ``character(3)`` → ``bpchar`` (plain ``character`` is
    ``character(1)``), ``numeric(12,4)`` → ``numeric``."""
    if sql_type.startswith("character varying"):
        return "text"
    if sql_type.startswith("character"):
        return "bpchar"
    if sql_type.startswith("numeric"):
        return "numeric"
    return sql_type


def render_insert(q: Insert[Any, Any], ctx: Ctx) -> pg.Composable:
    return with_clause(q, ctx, _insert_body)


def _insert_body(q: Insert[Any, Any], ctx: Ctx) -> pg.Composable:
    table = q._table
    parts: list[pg.Composable] = [_k("INSERT INTO "), table_ref(table)]
    overriding = pg.SQL(" OVERRIDING SYSTEM VALUE" if q._overriding else "")
    if q._source is not None:
        parts.append(_column_names(tuple(q._source_columns)))
        parts += [overriding, _k(" "), q._source._render_statement(ctx)]
    elif len(q._rows) == 1 and not q._rows[0]:
        parts.append(_k(" DEFAULT VALUES"))
    elif (columns := _unnest_columns(q)) is not None:
        # Many rows with the same keys: one array per column, unnested. The
        # statement has one parameter per column whatever the row count, so
        # its text (and psycopg's prepared statement) is the same for 2 rows
        # or 100,000, and the 65,535-parameter limit never applies.
        arrays = [Frag([_array_param(c, values, ctx), _array_cast(c)]) for c, values in columns]
        parts.append(_column_names(tuple(c for c, _ in columns)))
        parts += [overriding, _k(" SELECT * FROM unnest("), join(COMMA, arrays), _CLOSE]
    else:
        cols = q._insert_columns()
        default = _k("DEFAULT")
        parts.append(_column_names(tuple(cols)))
        parts += [overriding, _k(" VALUES ")]
        tuples = [
            fmt(
                "({})",
                join(COMMA, [_value(c, row[c], ctx) if c in row else default for c in cols]),
            )
            for row in q._all_rows()
        ]
        parts.append(join(COMMA, tuples))
    if q._conflict is not None:
        parts.append(_on_conflict(table, q._conflict, ctx))
    parts += _returning(q, ctx)
    return Frag(parts)


@lru_cache(maxsize=1024)
def _column_names(columns: tuple[Column[Any], ...]) -> pg.Composable:
    """`` ("a", "b")``, an insert's column list: no values, so rendered once
    per column tuple, to one piece of text."""
    return pg.SQL(text_of(fmt(" ({})", join(COMMA, (ident(c.db_name) for c in columns)))))


def _on_conflict(table: type[Table], c: OnConflict, ctx: Ctx) -> pg.Composable:
    parts: list[pg.Composable] = [_k(" ON CONFLICT")]
    if c.target:
        bare = ctx.unqualified()
        parts.append(fmt(" ({})", _list(c.target, bare)))
        if c.target_where is not None:
            parts += [_k(" WHERE "), c.target_where._render(bare)]
    if c.set is None:
        parts.append(_k(" DO NOTHING"))
        return Frag(parts)
    assignments = _with_on_update(table, c.set)
    parts += [_k(" DO UPDATE SET "), _assignments(assignments, ctx)]
    if c.set_where is not None:
        parts += [_k(" WHERE "), c.set_where._render(ctx)]
    return Frag(parts)


def _with_on_update(
    table: type[Table], assignments: dict[Column[Any], Any]
) -> dict[Column[Any], Any]:
    """The assignments plus ``on_update`` columns the statement leaves out."""
    extra = {c: c.on_update_value() for c in _on_update_columns(table) if c not in assignments}
    return {**assignments, **extra} if extra else assignments


def _on_update_columns(table: type[Table]) -> tuple[Column[Any], ...]:
    key: Any = table  # a class is hashable, whatever its instances are
    return _on_update_of(key)


@lru_cache(maxsize=1024)
def _on_update_of(table: Any) -> tuple[Column[Any], ...]:
    return tuple(c for c in table.__table__.columns if c.has_on_update)


def render_update(q: Any, ctx: Ctx) -> pg.Composable:
    return with_clause(q, ctx, _update_body)


def _update_body(q: Any, ctx: Ctx) -> pg.Composable:
    parts: list[pg.Composable] = [
        _k("UPDATE "),
        table_ref(q._table),
        _k(" SET "),
        _assignments(_with_on_update(q._table, q._set), ctx),
    ]
    if q._from:
        parts += [_k(" FROM "), join(COMMA, (_source(s, ctx) for s in q._from))]
    if q._where is not None:
        parts += [_k(" WHERE "), q._where._render(ctx)]
    parts += _returning(q, ctx)
    return Frag(parts)


def render_delete(q: Delete[Any, Any], ctx: Ctx) -> pg.Composable:
    return with_clause(q, ctx, _delete_body)


def _delete_body(q: Delete[Any, Any], ctx: Ctx) -> pg.Composable:
    parts: list[pg.Composable] = [_k("DELETE FROM "), table_ref(q._table)]
    if q._where is not None:
        parts += [_k(" WHERE "), q._where._render(ctx)]
    parts += _returning(q, ctx)
    return Frag(parts)


def order_items(items: Sequence[Expr[Any]]) -> tuple[Expr[Any], ...]:
    """Order-by items as given; bare expressions sort ascending."""
    return tuple(i if isinstance(i, OrderBy) else OrderBy(i) for i in items)
