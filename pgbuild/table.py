"""Declarative tables, their indexes and table-level constraints.

::

    class Users(Table, name="claude_code_users"):
        id = text().primary_key()
        email = text().not_null().unique()
        created_at = timestamp().default_now().not_null()

        __indexes__ = (index("idx_users_email").on(email),)

The class is the table: ``Users.email`` is a column for queries, and an
instance of ``Users`` is a row (``row.email``).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal, TypeVar

from pgbuild.columns import Column, FkAction, check_fk_action
from pgbuild.errors import SchemaError
from pgbuild.expressions import Expr

TT = TypeVar("TT", bound="Table")

_MAX_IDENT = 63
IndexMethod = Literal["btree", "hash", "gin", "gist", "spgist", "brin", "hnsw", "ivfflat"]


def check_identifier(name: str, what: str) -> str:
    """Reject names PostgreSQL would truncate or refuse, naming the culprit."""
    if not isinstance(name, str) or not name:
        raise SchemaError(f"{what}: a name must be a non-empty string")
    if len(name.encode()) > _MAX_IDENT:
        raise SchemaError(f"{what}: name {name!r} is longer than 63 bytes")
    if "\x00" in name:
        raise SchemaError(f"{what}: name {name!r} contains a NUL byte")
    return name


# ------------------------------------------------------------------ indexes


@dataclass(frozen=True, slots=True)
class Index:
    """A named index: ``index("idx_users_email").on(Users.email)``.

    ``.using("gin")`` picks the method, ``.where(cond)`` makes it partial.
    """

    name: str
    unique: bool = False
    columns: tuple[Expr[Any], ...] = ()
    method: str | None = None
    predicate: Expr[bool] | None = None
    nulls_distinct: bool = True

    def on(self, *columns: Expr[Any]) -> Index:
        """The indexed columns (or expressions), in order."""
        if not columns:
            raise SchemaError(f"index {self.name!r}: .on() needs at least one column")
        return replace(self, columns=columns)

    def using(self, method: IndexMethod | str) -> Index:
        """The index method: ``btree`` (default), ``gin``, ``gist``, ``hash``, ``brin``, ..."""
        if not method.replace("_", "").isalnum():
            raise SchemaError(f"index {self.name!r}: invalid method {method!r}")
        return replace(self, method=method)

    def where(self, condition: Expr[bool]) -> Index:
        """Make the index partial: ``.where(is_null(deleted_at))``."""
        return replace(self, predicate=condition)

    def nulls_not_distinct(self) -> Index:
        """A unique index where NULLs count as equal (PostgreSQL 15+)."""
        return replace(self, nulls_distinct=False)


def index(name: str) -> Index:
    """A named index; finish it with ``.on(...)``."""
    return Index(check_identifier(name, "index"))


def unique_index(name: str) -> Index:
    """A named ``UNIQUE`` index; finish it with ``.on(...)``."""
    return Index(check_identifier(name, "index"), unique=True)


# ------------------------------------------------------------------ constraints


@dataclass(frozen=True, slots=True)
class PrimaryKey:
    """A (composite) primary key: ``primary_key(user_id, role_id)``."""

    columns: tuple[Column[Any], ...]
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """A (composite) foreign key::

    foreign_key([org_id, user_id], references=lambda: [Members.org_id, Members.user_id])
    """

    columns: tuple[Column[Any], ...]
    target: Callable[[], Sequence[Column[Any]]]
    on_delete: FkAction | None = None
    on_update: FkAction | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Unique:
    """A (multi-column) unique constraint: ``unique(org_id, email)``."""

    columns: tuple[Column[Any], ...]
    name: str | None = None
    nulls_distinct: bool = True

    def nulls_not_distinct(self) -> Unique:
        """``UNIQUE NULLS NOT DISTINCT``: NULLs count as equal (PostgreSQL 15+)."""
        return replace(self, nulls_distinct=False)


@dataclass(frozen=True, slots=True)
class Check:
    """A named check constraint: ``check("positive_price", gt(price, 0))``."""

    name: str
    condition: Expr[bool]


def primary_key(*columns: Column[Any], name: str | None = None) -> PrimaryKey:
    """A composite primary key, for ``__constraints__``."""
    return PrimaryKey(columns, name)


def foreign_key(
    columns: Sequence[Column[Any]],
    references: Callable[[], Sequence[Column[Any]]],
    *,
    on_delete: FkAction | None = None,
    on_update: FkAction | None = None,
    name: str | None = None,
) -> ForeignKey:
    """A composite foreign key, for ``__constraints__``."""
    for action in (on_delete, on_update):
        check_fk_action(action, f"foreign_key({', '.join(c.attr or '?' for c in columns)})")
    return ForeignKey(tuple(columns), references, on_delete, on_update, name)


def unique(*columns: Column[Any], name: str | None = None) -> Unique:
    """A multi-column unique constraint, for ``__constraints__``."""
    return Unique(columns, name)


def check(name: str, condition: Expr[bool]) -> Check:
    """A named check constraint, for ``__constraints__``."""
    return Check(check_identifier(name, "check"), condition)


Extra = Index | PrimaryKey | ForeignKey | Unique | Check


@dataclass(frozen=True, slots=True)
class Extension:
    """A PostgreSQL extension the schema needs, created before the tables:
    ``citext = extension("citext")`` in the schema module."""

    name: str


def extension(name: str) -> Extension:
    """Declare an extension (``extension("vector")``); ``create_tables`` and
    the migration tool create it first, and never drop it unless told to."""
    return Extension(check_identifier(name, "extension"))


# ------------------------------------------------------------------ tables


@dataclass(frozen=True)
class TableMeta:
    """What a Table class declares, collected once when the class is created."""

    name: str
    schema: str | None
    columns: tuple[Column[Any], ...]
    by_attr: dict[str, Column[Any]] = field(repr=False)
    extras: tuple[Extra, ...] = ()

    @property
    def primary_key(self) -> tuple[Column[Any], ...]:
        for extra in self.extras:
            if isinstance(extra, PrimaryKey):
                return extra.columns
        return tuple(c for c in self.columns if c.primary)


class Table:
    """Base class of declared tables; an instance is a row of the table.

    ``class Users(Table, name="users", schema="app")``: ``name`` defaults to
    the class name in lower case, ``schema`` to the connection's search path.
    """

    __table__: ClassVar[TableMeta]
    __alias__: ClassVar[str]
    # The class whose instances are this table's rows: itself, or for an
    # alias(...) the aliased table.
    __row_class__: ClassVar[type[Table]]
    __indexes__: ClassVar[tuple[Extra, ...]] = ()
    __constraints__: ClassVar[tuple[Extra, ...]] = ()

    def __init_subclass__(cls, *, name: str | None = None, schema: str | None = None) -> None:
        super().__init_subclass__()
        default_name = cls.__name__.lower()
        table_name = check_identifier(
            default_name if name is None else name, f"table {cls.__name__}"
        )
        if schema is not None:
            check_identifier(schema, f"schema of table {table_name}")
        columns = tuple(v for v in vars(cls).values() if isinstance(v, Column))
        if not columns:
            raise SchemaError(f"table {table_name} declares no columns")
        for attr, col in vars(cls).items():
            if isinstance(col, Column) and (col.table is not cls or col.attr != attr):
                owner = col.table.__name__ if col.table is not None else "?"
                raise SchemaError(
                    f"column {attr!r} of {cls.__name__} is already {owner}.{col.attr}; "
                    "create a new column for each table"
                )
        seen: dict[str, str] = {}
        for col in columns:
            check_identifier(col.db_name, f"column {cls.__name__}.{col.attr}")
            if col.db_name in seen:
                raise SchemaError(
                    f"table {table_name}: columns {seen[col.db_name]!r} and {col.attr!r} "
                    f"share the database name {col.db_name!r}"
                )
            seen[col.db_name] = col.attr
        extras = tuple(cls.__dict__.get("__indexes__", ())) + tuple(
            cls.__dict__.get("__constraints__", ())
        )
        for extra in extras:
            if not isinstance(extra, Extra):
                raise SchemaError(f"table {table_name}: {extra!r} is not an index or constraint")
            if isinstance(extra, Index) and not extra.columns:
                raise SchemaError(f"table {table_name}: index {extra.name!r} has no columns")
        cls.__table__ = TableMeta(
            table_name, schema, columns, {c.attr: c for c in columns}, extras
        )
        cls.__alias__ = table_name
        cls.__row_class__ = cls

    def __init__(self, **values: Any) -> None:
        """A row built in Python: ``Users(id="u1", email="a@b.c")``."""
        by_attr = type(self).__table__.by_attr
        for key in values:
            if key not in by_attr:
                raise SchemaError(f"table {type(self).__table__.name} has no column {key!r}")
        self.__dict__.update(values)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # rows are mutable values

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({fields})"

    def to_dict(self) -> dict[str, Any]:
        """The row's values by attribute name."""
        return dict(self.__dict__)


def alias(table: type[TT], name: str) -> type[TT]:
    """The same table under another name, for self-joins and joining a table twice::

        inviter = alias(Users, "inviter")
        db.select(Users.email, inviter.email).from_(Users)
          .left_join(inviter, eq(Users.invited_by, inviter.id))

    Its columns render as ``"inviter"."id"`` and it appears in ``FROM`` as
    ``"claude_code_users" AS "inviter"``; whole rows selected through it are
    rows of ``table``.
    """
    check_identifier(name, f"alias of table {table.__table__.name}")
    meta = table.__table__
    # Fresh, unbound copies of the columns: assigning them in the new class
    # body binds them to the alias, so they render with its name.
    copies = {c.attr: dataclasses.replace(c, attr="", table=None) for c in meta.columns}
    keys = tuple(copies[c.attr] for c in meta.primary_key)

    def body(ns: dict[str, Any]) -> None:
        ns.update(copies)
        ns["__constraints__"] = (PrimaryKey(keys),) if keys else ()

    cls: type[TT] = types.new_class(
        f"alias({table.__name__}, {name!r})",
        (table,),
        {"name": meta.name, "schema": meta.schema},
        body,
    )
    cls.__alias__ = name
    cls.__row_class__ = table.__row_class__
    return cls
