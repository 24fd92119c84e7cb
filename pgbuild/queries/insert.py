"""``INSERT``: ``db.insert(Users).values({...}).on_conflict_do_update(...).returning()``.

Values are checked when given: an unknown column, a missing NOT NULL column
that has no default, or an empty list is a :class:`~pgbuild.QueryError`
naming the table and column, raised before anything reaches the server.
So is a value whose Python type plainly does not fit its column (a ``str``
for an ``integer``, an ``int`` for ``text``, a ``bool`` for an ``integer``),
an ``int`` out of the column's range, and a ``str`` holding a NUL byte,
which PostgreSQL cannot store: the server would otherwise convert some of
them silently (``"12"`` into an integer, ``"\\x41"`` into bytea as ``b"A"``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from typing import Any, TypeVar, cast
from uuid import UUID

from psycopg import sql as pg

from pgbuild.columns import Column
from pgbuild.compiler import render_insert
from pgbuild.errors import QueryError
from pgbuild.expressions import Expr
from pgbuild.frozen import fast_init
from pgbuild.queries.base import M, Query, WriteQuery
from pgbuild.queries.subquery import Subquery
from pgbuild.render import Ctx
from pgbuild.table import Table

TT = TypeVar("TT", bound=Table)

RowValues = Mapping[str, Any] | Mapping[Column[Any], Any] | Table


def column_of(table: type[Table], key: str | Column[Any]) -> Column[Any]:
    """The column a ``values``/``set`` key names (attribute name or Column)."""
    meta = table.__table__
    if isinstance(key, Column):
        if key.table is not table:
            raise QueryError(f"column {key!r} does not belong to table {meta.name}")
        return key
    col = meta.by_attr.get(key)
    if col is None:
        raise QueryError(f"table {meta.name} has no column {key!r}")
    return col


def normalise_row(
    table: type[Table], row: RowValues, *, check: bool = True
) -> dict[Column[Any], Any]:
    """A row (or assignments) keyed by column; generated columns are refused,
    and (unless ``check`` is false: see :func:`check_rows`) values that
    plainly do not fit their column."""
    items = row.__dict__.items() if isinstance(row, Table) else row.items()
    try:  # the common case, attribute names: one dict lookup per key
        by_attr: dict[Any, Column[Any]] = table.__table__.by_attr
        out = {by_attr[k]: v for k, v in items}
    except (KeyError, TypeError):  # Column keys, or a name to report
        out = {column_of(table, k): v for k, v in items}
    kinds = _columns(table)
    for col in kinds.generated:
        if col in out:
            raise QueryError(
                f"{table.__table__.name}.{col.attr} is a generated column: the server "
                "computes it, so it cannot be written"
            )
    if check:
        rules = kinds.rules
        for col, value in out.items():
            rule = rules.get(col)
            if rule is not None and _refused(rule, value):
                raise _bad_value(table, col, value)
    return out


def _refused(rule: Rule, value: Any) -> bool:
    refused, limit, _ = rule
    kind = type(value)
    return (
        kind in refused
        or (kind is int and bool(limit) and not -limit <= value < limit)
        or (kind is str and "\x00" in value)
    )


def check_rows(table: type[Table], rows: Sequence[dict[Column[Any], Any]]) -> None:
    """:func:`normalise_row`'s value check for many rows, a column at a time:
    the types present, the extremes of the ints and the text of the strs are
    checked in bulk, and only a column that fails is searched for its culprit."""
    rules = _columns(table).rules
    check_columns(table, {col: [row[col] for row in rows if col in row] for col in rules})


def check_columns(
    table: type[Table],
    columns: Mapping[Column[Any], Sequence[Any]],
    types: Mapping[Column[Any], set[type]] | None = None,
) -> None:
    """The bulk value check of :func:`check_rows`, given each column's values
    (and the set of their types, when the caller has it already)."""
    rules = _columns(table).rules
    for col, values in columns.items():
        rule = rules.get(col)
        if rule is None or not values:
            continue
        refused, limit, _ = rule
        kinds = types[col] if types is not None else set(map(type, values))
        bad = not kinds.isdisjoint(refused)
        if not bad and limit and int in kinds:
            ints = values if len(kinds) == 1 else [v for v in values if type(v) is int]
            bad = min(ints) < -limit or max(ints) >= limit
        if not bad and str in kinds:
            strs = values if len(kinds) == 1 else [v for v in values if type(v) is str]
            bad = "\x00" in "".join(strs)
        if bad:
            culprit = next(v for v in values if _refused(rule, v))
            raise _bad_value(table, col, culprit)


# The standard Python types whose values are plainly wrong for a column of a
# given kind. Other types (None, expressions, placeholders, subclasses such
# as enums, a user's own adapted classes) are left to psycopg and the server.
_STANDARD = frozenset(
    {str, bytes, bytearray, memoryview, bool, int, float, Decimal, dict, list, tuple,
     datetime, date, time, timedelta, UUID}
)
_BYTES = frozenset({bytes, bytearray, memoryview})
_NUMBERS = frozenset({int, float, Decimal})
_ACCEPTS: dict[str, tuple[frozenset[type], str]] = {
    "text": (frozenset({str}), "a str"),
    "integer": (frozenset({int}), "an int"),
    "number": (_NUMBERS, "an int, float or Decimal"),
    "boolean": (frozenset({bool}), "a bool"),
    "bytea": (_BYTES, "bytes"),
}
_INT_LIMITS = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}


def _kind(col: Column[Any]) -> str | None:
    """Which Python types a scalar column's values plainly have, when that is
    clear (built-in types only: not enums, JSON or custom types)."""
    if col.enum_type is not None:
        return None
    t = col.sql_type
    if t == "text" or t.startswith("character"):
        return "text"
    if t in _INT_LIMITS:
        return "integer"
    if t in ("real", "double precision") or t.startswith("numeric"):
        return "number"
    if t in ("boolean", "bytea"):
        return t
    return None


# (refused types, int range limit or 0, what to pass instead) per column.
Rule = tuple[frozenset[type], int, str]


def _rule(col: Column[Any]) -> Rule | None:
    if col.json_type or col.dumper is not None or col.dims:
        return None  # values are transformed, or are containers: not checked
    kind = _kind(col)
    if kind is None:
        return frozenset(), 0, ""  # NUL bytes in str values only
    accepted, hint = _ACCEPTS[kind]
    return _STANDARD - accepted, _INT_LIMITS.get(col.sql_type, 0), hint


def _bad_value(table: type[Table], col: Column[Any], value: Any) -> QueryError:
    """The error for a value :func:`normalise_row` refuses; it never shows the
    value itself (values appear in messages only with ``log_params``)."""
    where = f"{table.__table__.name}.{col.attr}"
    typ = col.type_name()
    rule = _columns(table).rules[col]
    if isinstance(value, str) and "\x00" in value:
        return QueryError(
            f"{where}: the str value contains a NUL byte (\\x00), which PostgreSQL "
            "cannot store in text; nothing was sent"
        )
    if type(value) is int:
        limit = rule[1]
        return QueryError(
            f"{where}: the int value is out of range for {typ} "
            f"({-limit} to {limit - 1}); nothing was sent"
        )
    extra = " (a bool is not an int here)" if type(value) is bool else ""
    return QueryError(
        f"{where} ({typ}): got a {type(value).__name__} value{extra}; pass {rule[2]}; "
        "nothing was sent"
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Kinds:
    generated: tuple[Column[Any], ...]
    filled: tuple[Column[Any], ...]
    required: tuple[Column[Any], ...]
    rules: dict[Column[Any], Rule]


@lru_cache(maxsize=1024)
def _kinds(table: Any) -> _Kinds:
    columns = table.__table__.columns
    return _Kinds(
        generated=tuple(c for c in columns if c.generated is not None),
        filled=tuple(
            c
            for c in columns
            if c.default_factory is not None or (c.has_on_update and not c.has_default)
        ),
        required=tuple(c for c in columns if not c.nullable and not c.has_default),
        rules={c: r for c in columns if (r := _rule(c)) is not None},
    )


def _columns(table: type[Table]) -> _Kinds:
    key: Any = table  # a class is hashable, whatever its instances are
    return _kinds(key)


def _fill(table: type[Table], row: dict[Column[Any], Any]) -> dict[Column[Any], Any]:
    """Python-side defaults for an inserted row: ``default_fn`` columns, and
    ``on_update`` columns without a database default (as Drizzle's $onUpdate)."""
    for col in _columns(table).filled:
        if col in row:
            continue
        if col.default_factory is not None:
            row[col] = col.default_factory()
        else:
            row[col] = col.on_update_value()
    return row


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class Plain:
    """Many rows given the common way, checked a column at a time: their
    ``columns`` (in table order) and each column's values."""

    columns: list[Column[Any]]
    values: list[list[Any]]


def plain_rows(table: type[Table], rows: Sequence[RowValues]) -> Plain | None:
    """The fast path of bulk inserts and ``copy_into``: dicts with the same
    attribute names, plain values psycopg sends as they are (no expressions,
    nothing to dump), no Python-side default left to fill. Values are read
    and checked a column at a time, in C where they can be; anything unusual
    (or wrong, to be reported with its row) gets ``None``: the general path,
    row by row."""
    # Plain dicts only: a dict subclass with __missing__ would invent values.
    if len(rows) < 2 or set(map(type, rows)) != {dict}:
        return None
    dicts = cast(Sequence[dict[str, Any]], rows)
    keys = dicts[0].keys()
    by_attr = table.__table__.by_attr
    chosen = {by_attr[k] for k in keys if isinstance(k, str) and k in by_attr}
    if not keys or len(chosen) != len(keys):
        return None
    kinds = _columns(table)
    if (
        any(c.generated is not None or c.needs_dump for c in chosen)
        or any(c not in chosen for c in kinds.filled)
        or any(c not in chosen for c in kinds.required)
    ):
        return None
    columns = [c for c in table.__table__.columns if c in chosen]
    # As many keys in every row (counted in C), and these among them (a
    # missing one is a KeyError): the same keys in every row.
    if set(map(len, dicts)) != {len(keys)}:
        return None
    try:
        values = [list(map(itemgetter(c.attr), dicts)) for c in columns]
    except KeyError:
        return None
    rules = _columns(table).rules
    types = {c: _types(v, rules.get(c)) for c, v in zip(columns, values, strict=True)}
    if any(type(None) in types[c] for c in kinds.required):
        return None
    if any(issubclass(t, Expr) for found in types.values() for t in found):
        return None
    check_columns(table, dict(zip(columns, values, strict=True)), types)
    return Plain(columns, values)


def _types(values: list[Any], rule: Rule | None) -> set[type]:
    """The types among a column's values. A column of strs, the common
    case, is recognised by ``"".join`` (one pass in C) rather than a
    ``type()`` per value; subclasses of str join too, so only where str is
    accepted, and the answer is the same to :func:`check_columns`."""
    if values and (rule is None or str not in rule[0]):
        try:
            "".join(values)
        except TypeError:
            pass
        else:
            return {str}
    return set(map(type, values))


def checked_rows(
    table: type[Table], rows: Sequence[RowValues]
) -> tuple[dict[Column[Any], Any], ...]:
    """The general path of ``values()``, row by row: each row keyed by column,
    its values checked, its Python-side defaults filled, and a missing NOT
    NULL column named with its row."""
    normalised: tuple[dict[Column[Any], Any], ...]
    if len(rows) == 1:
        normalised = (_fill(table, normalise_row(table, rows[0])),)
    else:
        unfilled = [normalise_row(table, r, check=False) for r in rows]
        check_rows(table, unfilled)
        normalised = tuple(_fill(table, row) for row in unfilled)
    required = _columns(table).required
    for i, row in enumerate(normalised):
        for col in required:
            if row.get(col, ...) is None or col not in row:
                where = f" (row {i})" if len(normalised) > 1 else ""
                raise QueryError(
                    f"insert into {table.__table__.name}{where}: column {col.attr!r} is "
                    "NOT NULL and has no default; give it a value"
                )
    return normalised


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class OnConflict:
    target: tuple[Expr[Any], ...] = ()
    target_where: Expr[bool] | None = None
    set: dict[Column[Any], Any] | None = None
    set_where: Expr[bool] | None = None


def _targets(target: Expr[Any] | Sequence[Expr[Any]] | None) -> tuple[Expr[Any], ...]:
    if target is None:
        return ()
    return (target,) if isinstance(target, Expr) else tuple(target)


@fast_init
@dataclasses.dataclass(frozen=True, slots=True)
class Insert(WriteQuery[TT, M]):
    """An immutable ``INSERT`` builder."""

    _rows: tuple[dict[Column[Any], Any], ...] = ()
    # Or, when plain_rows took them, the rows as one list per column (sent as
    # unnest arrays without ever building a dict per row).
    _arrays: tuple[tuple[Column[Any], list[Any]], ...] | None = None
    _source: Any = None
    _source_columns: tuple[Column[Any], ...] = ()
    _conflict: OnConflict | None = None
    _overriding: bool = False
    _ctes: tuple[Subquery[Any], ...] = ()

    def values(self, rows: RowValues | Sequence[RowValues]) -> Insert[TT, M]:
        """One row (a dict or a row object) or a list of rows.

        Rows with different keys insert the union of the keys, ``DEFAULT`` for
        the missing ones; ``values({})`` is ``DEFAULT VALUES``.
        """
        many = rows if isinstance(rows, Sequence) else [rows]
        if not many:
            raise QueryError(
                f"insert into {self._table.__table__.name}: values([]) has no rows to insert"
            )
        plain = plain_rows(self._table, many)
        if plain is not None and not any(c.dims for c in plain.columns):
            # Kept as columns only (unnest would flatten array values).
            arrays = tuple(zip(plain.columns, plain.values, strict=True))
            return self._replace(_rows=(), _arrays=arrays, _source=None)
        return self._replace(_rows=checked_rows(self._table, many), _arrays=None, _source=None)

    def select(
        self, query: Query[Any, Any], columns: Sequence[Column[Any] | str] | None = None
    ) -> Insert[TT, M]:
        """``INSERT INTO table (columns) SELECT ...`` (a select or a set operation).

        Without ``columns``, each selected field names its target column: a
        column by its attribute name, ``x.as_("name")`` by its label, a keyword
        field (``select(user_id=Users.id, ...)``) by its keyword::

            db.insert(AuditLogs).select(
                db.select(id=sql("'log_' || {i}", i=Users.id), user_id=Users.id,
                          action=sql("'import'"), table_name=sql("'users'")).from_(Users)
            ).execute()
        """
        name = self._table.__table__.name
        outputs = getattr(query, "_outputs", None)
        if not callable(outputs):
            raise QueryError(f"insert into {name}: .select() takes a select or a set operation")
        fields = outputs()
        if columns is None:
            unnamed = [i for i, f in enumerate(fields) if f.attr is None]
            if unnamed:
                raise QueryError(
                    f"insert into {name}: field {unnamed[0]} of the select has no name; "
                    "label it (.as_(...) or a keyword field) or pass columns="
                )
            columns = [f.attr for f in fields if f.attr is not None]
        targets = tuple(column_of(self._table, c.attr if isinstance(c, Column) else c)
                        for c in columns)
        if len(targets) != len(fields):
            raise QueryError(
                f"insert into {name}: {len(targets)} columns but the select gives {len(fields)}"
            )
        return self._replace(_source=query, _source_columns=targets, _rows=(), _arrays=None)

    def overriding_system_value(self) -> Insert[TT, M]:
        """``OVERRIDING SYSTEM VALUE``: insert explicit values into a
        ``GENERATED ALWAYS AS IDENTITY`` column."""
        return self._replace(_overriding=True)

    def on_conflict_do_nothing(
        self,
        target: Expr[Any] | Sequence[Expr[Any]] | None = None,
        *,
        where: Expr[bool] | None = None,
    ) -> Insert[TT, M]:
        """``ON CONFLICT [(target) [WHERE where]] DO NOTHING``."""
        return self._replace(_conflict=OnConflict(_targets(target), where))

    def on_conflict_do_update(
        self,
        *,
        target: Expr[Any] | Sequence[Expr[Any]],
        set: Mapping[str, Any] | Mapping[Column[Any], Any],
        where: Expr[bool] | None = None,
        target_where: Expr[bool] | None = None,
        set_where: Expr[bool] | None = None,
    ) -> Insert[TT, M]:
        """``ON CONFLICT (target) DO UPDATE SET ... [WHERE ...]`` (an upsert).

        ``where``/``set_where`` filters the rows to update; ``target_where``
        selects a partial unique index. Use ``excluded(col)`` for the proposed row.
        """
        if where is not None and set_where is not None:
            raise QueryError("on_conflict_do_update: give where= or set_where=, not both")
        assignments = normalise_row(self._table, set)
        if not assignments:
            raise QueryError(f"insert into {self._table.__table__.name}: upsert set= is empty")
        conflict = OnConflict(
            _targets(target), target_where, assignments, set_where if where is None else where
        )
        return self._replace(_conflict=conflict)


    def _all_rows(self) -> tuple[dict[Column[Any], Any], ...]:
        """The rows, one dict each (built from the columns when kept as such)."""
        if self._arrays is None:
            return self._rows
        cols = [c for c, _ in self._arrays]
        values = zip(*(v for _, v in self._arrays), strict=True)
        return tuple(dict(zip(cols, row, strict=True)) for row in values)

    def _insert_columns(self) -> list[Column[Any]]:
        if self._arrays is not None:
            return [c for c, _ in self._arrays]
        present = set().union(*self._rows)
        cols = [c for c in self._table.__table__.columns if c in present]
        # Several rows that are all empty still need one column to say DEFAULT for.
        return cols or [self._table.__table__.columns[0]]

    def _render_statement(self, ctx: Ctx) -> pg.Composable:
        if not self._rows and self._arrays is None and self._source is None:
            raise QueryError(f"insert into {self._table.__table__.name}: call .values(...) first")
        return render_insert(self, ctx)

    def _verb(self) -> str:
        return "insert into"

