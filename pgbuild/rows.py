"""Row shapes: how a result row becomes a Python value.

A query knows its shape when it is built (a table's rows, tuples, named
rows, or one row object per joined table); the executor asks the shape for a
maker and hands psycopg a row factory that calls it. Makers do the least
per-row work possible: values land straight in the row's ``__dict__``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, tzinfo
from functools import lru_cache
from typing import Any

from pgbuild.columns import Column
from pgbuild.table import Table

Maker = Callable[[Sequence[Any]], Any]


class Zoned:
    """A row maker that also takes the session's time zone: relational
    queries decode nested timestamps themselves, and psycopg gives
    timestamptz values in that zone. The zone comes from the connection,
    which the server keeps told of it: no round trip, nothing in the query.
    """

    __slots__ = ("make",)

    def __init__(self, make: Callable[[Sequence[Any], tzinfo], Any]) -> None:
        self.make = make

    def factory(self, cursor: Any) -> Maker:
        make, zone = self.make, cursor.connection.info.timezone
        return lambda values: make(values, zone)

    def __call__(self, values: Sequence[Any]) -> Any:
        """A row without a cursor to ask (no connection): in UTC."""
        return self.make(values, UTC)


def maker_factory(maker: Maker) -> Any:
    """The psycopg row factory that makes each row with ``maker``."""
    if type(maker) is Zoned:
        return maker.factory
    return lambda _cursor: maker


def _loaders(columns: Sequence[Column[Any] | None]) -> list[tuple[int, Column[Any]]]:
    return [(i, c) for i, c in enumerate(columns) if c is not None and c.needs_load]


def table_maker(cls: type[Table], columns: tuple[Column[Any], ...]) -> Maker:
    """Rows of ``cls``, from values in the order of ``columns`` (one maker
    per table and column list, built once)."""
    key: Any = cls  # a class is hashable, whatever its instances are
    return _table_maker(key, columns)


# Keyed by the class itself: mypy sees Table instances as unhashable
# (rows are mutable values), not the class, hence Any.
@lru_cache(maxsize=1024)
def _table_maker(cls: Any, columns: tuple[Column[Any], ...]) -> Maker:
    """Rows of ``cls``, from values in the order of ``columns``."""
    names = [f"v{i}" for i in range(len(columns))]
    scope: dict[str, Any] = {}
    fields = column_fields(columns, names, scope)
    # Unpacking checks the number of values.
    return row_function(cls, "values", [f"{', '.join(names)}, = values"], fields, scope)


def column_fields(
    columns: Sequence[Column[Any]], values: Sequence[str], scope: dict[str, Any]
) -> list[tuple[str, str]]:
    """For :func:`row_function`: each column's attribute and the expression of
    its value (``values``, one per column), through the column's loader where
    it has one (put in ``scope``)."""
    fields = []
    for i, (column, value) in enumerate(zip(columns, values, strict=True)):
        if column.needs_load:
            scope[f"load{i}"] = column.load
            value = f"load{i}({value})"
        fields.append((column.attr, value))
    return fields


def row_function(
    cls: Any,
    args: str,
    lines: list[str],
    fields: list[tuple[str, str]],
    scope: dict[str, Any],
    fallback: Callable[..., Any] | None = None,
) -> Callable[..., Any]:
    """A function of ``args`` that runs ``lines``, then returns a row of
    ``cls`` whose attributes are ``fields`` (name, Python expression over the
    names in ``scope`` and ``args``). With a ``fallback``, a ValueError
    while computing the fields hands the arguments to it instead.

    Row makers run once per row fetched, so each is straight-line code made
    for its columns: one dict display, decoders called inline, no loop over
    the columns; ``dict(zip(...))`` and a loop took twice as long. Names are
    written as ``repr`` literals, expressions only ever come from pgbuild.
    """
    data = "{" + ", ".join(f"{name!r}: {value}" for name, value in fields) + "}"
    if fallback is None:
        body = [*lines, "row = new(cls)", f"row.__dict__ = {data}"]
    else:
        body = [
            "try:",
            *(f"    {line}" for line in lines),
            f"    data = {data}",
            "except ValueError:",
            f"    return fallback({args})",
            "row = new(cls)",
            "row.__dict__ = data",
        ]
    body.append("return row")
    scope = {**scope, "new": object.__new__, "cls": cls, "fallback": fallback}
    exec(f"def make({args}):\n" + "".join(f"    {line}\n" for line in body), scope)
    return scope["make"]  # type: ignore[no-any-return]


def tuple_maker(columns: Sequence[Column[Any] | None]) -> Maker | None:
    """Tuples; ``None`` (psycopg's plain tuples) when no value needs decoding."""
    loaders = _loaders(columns)
    if not loaders:
        return None

    def make(values: Sequence[Any]) -> Any:
        out = list(values)
        for i, col in loaders:
            out[i] = col.load(out[i])
        return tuple(out)

    return make


class Row:
    """A named row: attribute access (``row.total``), ``row["total"]``, ``==``."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        object.__setattr__(self, "_data", data)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"row has no field {name!r}; fields: {list(self._data)}") from None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("rows are read-only")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Row) and self._data == other._data

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Row(" + ", ".join(f"{k}={v!r}" for k, v in self._data.items()) + ")"

    def _asdict(self) -> dict[str, Any]:
        return dict(self._data)


def named_maker(names: Sequence[str], decoders: Sequence[Callable[[Any], Any] | None]) -> Maker:
    """Named rows with the given field names, decoding values where asked."""
    keys = tuple(names)
    steps = [(i, d) for i, d in enumerate(decoders) if d is not None]

    def make(values: Sequence[Any]) -> Any:
        data = dict(zip(keys, values, strict=True))
        for i, decode in steps:
            key = keys[i]
            data[key] = decode(data[key])
        return Row(data)

    return make


class JoinedRow:
    """A row of ``select()`` over joins: one attribute per joined table, named
    by its SQL name or alias (``row.claude_code_sessions``), also reachable as
    ``row[Sessions]``. A table a left join did not match is ``None``."""

    __slots__ = ("_tables",)

    def __init__(self, tables: dict[str, Any]) -> None:
        object.__setattr__(self, "_tables", tables)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._tables[name]
        except KeyError:
            raise AttributeError(f"joined row has no table {name!r}") from None

    def __getitem__(self, table: Any) -> Any:
        """``row[Sessions]``, ``row[alias]``, ``row[subquery]`` or ``row["name"]``."""
        return self._tables[table if isinstance(table, str) else table.__alias__]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JoinedRow) and self._tables == other._tables

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "JoinedRow(" + ", ".join(f"{k}={v!r}" for k, v in self._tables.items()) + ")"


def joined_maker(parts: Sequence[tuple[str, Maker | None, int, Sequence[int]]]) -> Maker:
    """A :class:`JoinedRow` maker from one ``(name, maker, width, key
    positions)`` per source, in select-list order; a source whose key
    positions are all NULL (an outer join found nothing) is ``None``."""
    plan = []
    start = 0
    for name, make, width, keys in parts:
        plan.append((name, make, start, start + width, [start + k for k in keys]))
        start += width

    def joined(values: Sequence[Any]) -> Any:
        tables: dict[str, Any] = {}
        for name, make, lo, hi, keys in plan:
            if all(values[i] is None for i in keys):
                tables[name] = None
            else:
                part = values[lo:hi]
                tables[name] = make(part) if make is not None else tuple(part)
        return JoinedRow(tables)

    return joined
