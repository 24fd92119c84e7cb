"""Nested rows of relational queries: how a level's values travel inside
JSON, and how they come back as the values a plain select would give.

JSON would lose types, so inside it most values are their type's output
text (``nested_value``), decoded with psycopg's own text loader for the
column's type; the values JSON keeps exactly (numbers, booleans, text) and
plain timestamptz (ISO 8601, read in C) travel as themselves. A level's row
maker is generated once per :class:`Shape` (see :func:`pgbuild.rows.row_function`).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from typing import Any

import psycopg
from psycopg import sql as pg
from psycopg.pq import Format

from pgbuild.columns import Column
from pgbuild.expressions import Expr
from pgbuild.frozen import fast_init
from pgbuild.render import fmt
from pgbuild.rows import column_fields, row_function
from pgbuild.table import Table

# A function takes at most 100 arguments: wider levels are arrays of chunks.
MAX_ARGS = 100


def output_text(ref: pg.Composable) -> pg.Composable:
    """The value as its type's output function writes it (what psycopg reads),
    NULL staying NULL. ``::text`` differs for a few types (boolean gives
    ``true``, inet adds ``/32``, character drops its padding)."""
    # %% because the statement has parameters: psycopg reads it as one %.
    return fmt("CASE WHEN {} IS NULL THEN NULL ELSE format('%%s', {}) END", ref, ref)


# Scalar types whose JSON value already is the Python value.
_AS_JSON = frozenset({"smallint", "integer", "bigint", "boolean", "text", "character varying"})
# Types whose ::text is their output function's text.
_CAST_TEXT = frozenset(
    {
        "real",
        "double precision",
        "numeric",
        "date",
        "time without time zone",
        "timestamp with time zone",
        "timestamp without time zone",
        "interval",
        "uuid",
        "bytea",
        "macaddr",
        "cidr",
    }
)
_TIMESTAMPTZ = frozenset({1184, 1185})
_TEXT_ARRAY = 1009


# Per column, whatever the query: computed once (columns are immutable and
# hashed by identity).
@functools.cache
def _base_type(col: Column[Any]) -> str:
    return " ".join(re.sub(r"\([^)]*\)", " ", col.sql_type).split())


@functools.cache
def _as_json(col: Column[Any]) -> bool:
    if col.json_type is not None:
        return True
    return col.dims == 0 and (col.enum_type is not None or _base_type(col) in _AS_JSON)


@functools.cache
def _plain_timestamptz(col: Column[Any]) -> bool:
    """The common nested column: JSON writes it in ISO 8601 (whatever the
    DateStyle), which Python reads in C, and cheaper than ``::text``."""
    return (
        _base_type(col) == "timestamp with time zone"
        and not col.dims
        and col.enum_type is None
        and not col.needs_load
    )


def nested_value(col: Column[Any], ref: pg.Composable) -> pg.Composable:
    """What a nested level puts in its JSON array for column ``col``
    (``ref``, the column on the level's alias)."""
    if _as_json(col) or _plain_timestamptz(col):
        return fmt("{}::text", ref) if col.enum_type is not None else ref
    if col.dims or col.enum_type is not None or _base_type(col) in _CAST_TEXT:
        return fmt("{}::text", ref)
    return output_text(ref)


Decode = Callable[[Any, tzinfo], Any]
LevelMaker = Callable[[Sequence[Any], tzinfo], Any]


@fast_init  # one per level of every query, to look its maker up
@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
    """What a level's rows are made from, without the query's values: the
    key its row maker is generated under, once (generating it costs more
    than running the query)."""

    table: type[Table]
    columns: tuple[Column[Any], ...]
    extras: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    children: tuple[tuple[str, bool, Shape], ...]


@functools.lru_cache(maxsize=256)
def top_maker(shape: Shape) -> LevelMaker:
    """Rows of the top level: its columns as psycopg loaded them, its extras,
    then one JSON value per relation, decoded in the session's time zone
    ``tz``."""
    scope: dict[str, Any] = {"apply": _apply}
    at = len(shape.columns)
    fields = column_fields(shape.columns, [f"values[{i}]" for i in range(at)], scope)
    for k, (name, post) in enumerate(shape.extras):
        scope[f"post{k}"] = post
        fields.append((name, f"apply(post{k}, values[{at}])"))
        at += 1
    for k, (name, many, child) in enumerate(shape.children):
        scope[f"child{k}"] = _relation_maker(many, child)
        fields.append((name, f"child{k}(values[{at}], tz)"))
        at += 1
    return row_function(shape.table, "values, tz", [], fields, scope)


def _relation_maker(many: bool, shape: Shape) -> Decode:
    make = _level_maker(shape)
    if many:
        return lambda items, tz: [make(item, tz) for item in items]
    return lambda item, tz: None if item is None else make(item, tz)


@functools.lru_cache(maxsize=256)
def _level_maker(shape: Shape) -> LevelMaker:
    """Rows of a nested level, from its JSON array: columns, then each extra
    as its output text and type oid, then one value per relation.

    Plain timestamptz columns, two in most nested rows, are read inline
    (``fromisoformat``, in C); a value it cannot read (BC, infinity) makes
    the row go through each column's decoder instead, whose error is
    psycopg's.
    """
    careful = _nested_maker(shape, None)
    if not any(_plain_timestamptz(c) for c in shape.columns):
        return careful
    return _nested_maker(shape, careful)


def _nested_maker(shape: Shape, careful: LevelMaker | None) -> LevelMaker:
    scope: dict[str, Any] = {"extra": _extra, "iso": datetime.fromisoformat}
    names = []
    fields = []
    for i, c in enumerate(shape.columns):
        name = f"v{i}"
        decode = _column_decoder(c)
        scope[f"decode{i}"] = decode
        if decode is None:
            value = name
        elif careful is not None and _plain_timestamptz(c):
            value = f"None if {name} is None else iso({name}).astimezone(tz)"
        else:
            value = f"decode{i}({name}, tz)"
        names.append(name)
        fields.append((c.attr, value))
    for k, (attr, post) in enumerate(shape.extras):
        scope[f"post{k}"] = post
        names += [f"x{k}", f"oid{k}"]
        fields.append((attr, f"extra(post{k}, x{k}, oid{k}, tz)"))
    for k, (attr, many, child) in enumerate(shape.children):
        scope[f"child{k}"] = _relation_maker(many, child)
        names.append(f"r{k}")
        fields.append((attr, f"child{k}(r{k}, tz)"))
    # Wide rows come as an array of chunks (see _json_array).
    flat = "[v for chunk in values for v in chunk]" if len(names) > MAX_ARGS else "values"
    lines = [f"{', '.join(names)}, = {flat}"]
    return row_function(shape.table, "values, tz", lines, fields, scope, careful)


def _apply(post: Callable[[Any], Any] | None, value: Any) -> Any:
    return post(value) if post is not None and value is not None else value


def _extra(post: Callable[[Any], Any] | None, text: str | None, oid: Any, tz: tzinfo) -> Any:
    # JSON writes an oid as a string.
    return _apply(post, _load_text(text, int(oid), tz))


def row_class(table: type[Table]) -> type[Table]:
    """The class of a level's rows: an alias of a table gives rows of the
    table itself."""
    return getattr(table, "__row_class__", table)


def extra_post(expr: Expr[Any]) -> Callable[[Any], Any] | None:
    """What a top-level select would apply to this extra after psycopg loads it."""
    if isinstance(expr, Column) and expr.needs_load:
        return expr.load
    return getattr(expr, "decoder", None)


@functools.cache
def _column_decoder(col: Column[Any]) -> Decode | None:
    """How a column's JSON value becomes the value a top-level select gives."""
    if _as_json(col):
        if col.needs_load:
            load = col.load
            return lambda value, tz: load(value)
        return None
    if col.enum_type is not None:
        oid: int | None = _TEXT_ARRAY
    else:
        info = psycopg.adapters.types.get(_base_type(col))
        oid = None if info is None else (info.array_oid if col.dims else info.oid)
    text_load = _text_loader(oid) if oid else None
    post = col.load if col.needs_load else None
    retz = oid in _TIMESTAMPTZ
    if _plain_timestamptz(col):
        slow = text_load
        assert slow is not None

        def decode_timestamptz(value: Any, tz: tzinfo) -> Any:
            if value is None:
                return None
            try:  # JSON's ISO 8601, read in C
                moment = datetime.fromisoformat(value)
            except ValueError:  # BC, infinity, year 10000...: psycopg's loader says what
                return _astimezone(slow(value.encode()), tz)
            return moment.astimezone(tz)

        return decode_timestamptz

    def decode(value: Any, tz: tzinfo) -> Any:
        if value is None:
            return None
        if text_load is not None:
            value = text_load(value.encode())
            if retz:
                value = _astimezone(value, tz)
        return value if post is None else post(value)

    return decode


def _load_text(text: str | None, oid: int, tz: tzinfo) -> Any:
    if text is None:
        return None
    load = _text_loader(oid)
    if load is None:
        return text
    value = load(text.encode())
    return _astimezone(value, tz) if oid in _TIMESTAMPTZ else value


@functools.cache
def _text_loader(oid: int) -> Callable[[bytes], Any] | None:
    """psycopg's text loader for a type, from its global adapters (no connection)."""
    cls = psycopg.adapters.get_loader(oid, Format.TEXT)
    return None if cls is None else cls(oid, None).load


def _astimezone(value: Any, tz: tzinfo) -> Any:
    if isinstance(value, list):
        return [_astimezone(v, tz) for v in value]
    return value.astimezone(tz) if isinstance(value, datetime) else value
