"""Column types and modifiers.

A factory (``text()``, ``integer()``, ``jsonb(T)``, ...) returns a
:class:`Column`; modifiers return new columns, so a column reads like its DDL::

    email = text().not_null().unique()          # Column[str]
    name = text()                               # Column[str | None]
    tags = text().array()                       # Column[list[str] | None]

``Column[T]`` is a descriptor: on the class (``Users.email``) it is the
column, an expression usable in queries; on a row (``row.email``) it is the
value, of type ``T``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date as _date
from datetime import datetime, timedelta
from datetime import time as _time
from decimal import Decimal
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, overload
from uuid import UUID

import psycopg
from psycopg import sql as pg
from psycopg.types.json import Json, Jsonb

from pgbuild.errors import SchemaError
from pgbuild.expressions import Expr
from pgbuild.render import Ctx, Frag, ident, literal_sql

if TYPE_CHECKING:
    from pgbuild.table import Table

T = TypeVar("T")
V = TypeVar("V")
E = TypeVar("E", bound=enum.Enum)

FkAction = Literal["cascade", "restrict", "no action", "set null", "set default"]
FK_ACTIONS: dict[str, pg.SQL] = {
    "cascade": pg.SQL("CASCADE"),
    "restrict": pg.SQL("RESTRICT"),
    "no action": pg.SQL("NO ACTION"),
    "set null": pg.SQL("SET NULL"),
    "set default": pg.SQL("SET DEFAULT"),
}


def check_fk_action(action: str | None, where: str) -> None:
    """Reject an unknown ``on_delete``/``on_update`` action, naming it."""
    if action is not None and action not in FK_ACTIONS:
        raise SchemaError(f"{where}: unknown foreign key action {action!r}; use one of "
                          f"{sorted(FK_ACTIONS)}")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True, slots=True)
class ForeignKeyRef:
    """``references(lambda: Other.id, on_delete=..., on_update=...)`` on a column."""

    target: Callable[[], Column[Any]]
    on_delete: FkAction | None = None
    on_update: FkAction | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Column(Expr[T]):
    """A table column: its SQL type, constraints and defaults.

    Build columns with the type factories; bind them by assigning them in a
    :class:`~pgbuild.Table` body.
    """

    is_column: ClassVar[bool] = True

    sql_type: str
    name: str | None = None
    dims: int = 0
    nullable: bool = True
    primary: bool = False
    is_unique: bool = False
    default_value: Any = MISSING
    default_expr: Expr[Any] | None = None
    identity: Literal["always", "by default"] | None = None
    serial: bool = False
    fk: ForeignKeyRef | None = None
    checks: tuple[Expr[bool], ...] = ()
    enum_type: PgEnum[Any] | None = None
    json_type: Literal["json", "jsonb"] | None = None
    identity_start: int | None = None
    identity_increment: int | None = None
    generated: Expr[Any] | None = None
    default_factory: Callable[[], Any] | None = None
    on_update_expr: Expr[Any] | Callable[[Column[Any]], Expr[Any]] | None = None
    on_update_factory: Callable[[], Any] | None = None
    dumper: Callable[[Any], Any] | None = None
    loader: Callable[[Any], Any] | None = None
    extension: str | None = None
    # Set once, when the column is assigned in a Table body.
    attr: str = ""
    table: type[Table] | None = None

    # -- descriptor: the column on the class, the value on a row

    @overload
    def __get__(self, instance: None, owner: Any) -> Column[T]: ...
    @overload
    def __get__(self, instance: object, owner: Any) -> T: ...
    def __get__(self, instance: object | None, owner: Any) -> Column[T] | T:
        if instance is None:
            return self
        # Rows keep values in their __dict__, which wins over this non-data
        # descriptor; reaching here means the row never had this column.
        raise AttributeError(f"{type(instance).__name__} row has no value for {self.attr!r}")

    def __set_name__(self, owner: type, attr: str) -> None:
        if self.table is not None:
            return  # reused in a second table: Table.__init_subclass__ reports it
        object.__setattr__(self, "attr", attr)
        object.__setattr__(self, "table", owner)

    def __repr__(self) -> str:
        owner = self.table.__name__ if self.table is not None else "<unbound>"
        return f"Column({owner}.{self.attr or self.name}: {self.type_name()})"

    # -- names and types

    @property
    def db_name(self) -> str:
        """The column's name in the database."""
        return self.name if self.name is not None else self.attr

    def type_name(self) -> str:
        """The SQL type as text, e.g. ``"integer[]"`` (enum names unquoted)."""
        base = self.enum_type.qualified_name() if self.enum_type else self.sql_type
        return base + "[]" * self.dims

    def type_sql(self) -> pg.Composable:
        """The SQL type for DDL and casts, with enum names quoted."""
        base = self.enum_type.type_sql() if self.enum_type else literal_sql(self.sql_type)
        return Frag([base, pg.SQL("[]" * self.dims)]) if self.dims else base

    @property
    def cast_params(self) -> bool:
        """Whether bound values need an explicit cast (psycopg sends them as text)."""
        return self.enum_type is not None

    @property
    def has_default(self) -> bool:
        """The database fills this column when an insert leaves it out."""
        return (
            self.default_value is not MISSING
            or self.default_expr is not None
            or self.identity is not None
            or self.serial
            or self.generated is not None
            or self.default_factory is not None
        )

    @property
    def has_on_update(self) -> bool:
        return self.on_update_expr is not None or self.on_update_factory is not None

    def on_update_value(self) -> Any:
        """The value an UPDATE that leaves this column out gives it."""
        if self.on_update_factory is not None:
            return self.on_update_factory()
        if callable(self.on_update_expr):
            return self.on_update_expr(self)
        return self.on_update_expr

    def dump(self, value: Any) -> Any:
        """Adapt a Python value for this column (JSON documents, enums)."""
        if value is None:
            return None
        if self.json_type is not None:
            wrap = Jsonb if self.json_type == "jsonb" else Json
            if self.dims:
                return _map_array(value, wrap, self.dims)
            return wrap(value)
        if self.enum_type is not None and self.enum_type.python is not None:
            return _map_array(value, _enum_value, self.dims) if self.dims else _enum_value(value)
        if self.dumper is not None:
            return _map_array(value, self.dumper, self.dims) if self.dims else self.dumper(value)
        return value

    def load(self, value: Any) -> Any:
        """Decode a value read from the database: enum arrays (which psycopg
        does not know, so they arrive as text), Python enums, custom types."""
        if value is None:
            return value
        if self.loader is not None:
            return _map_array(value, self.loader, self.dims) if self.dims else self.loader(value)
        if self.enum_type is None:
            return value
        if self.dims and isinstance(value, str):
            value = _TEXT_ARRAY.load(value.encode())
        cls = self.enum_type.python
        if cls is None:
            return value
        return _map_array(value, cls, self.dims) if self.dims else cls(value)

    @property
    def needs_dump(self) -> bool:
        """Whether :meth:`dump` changes values (JSON, Python enums, custom types)."""
        return (
            self.json_type is not None
            or self.dumper is not None
            or (self.enum_type is not None and self.enum_type.python is not None)
        )

    @property
    def needs_load(self) -> bool:
        if self.loader is not None:
            return True
        return self.enum_type is not None and (self.dims > 0 or self.enum_type.python is not None)

    def _render(self, ctx: Ctx) -> pg.Composable:
        if self.table is None:
            raise SchemaError(f"column {self.name or '?'} is not part of a table")
        if ctx.qualify:
            name = self.table.__alias__
            return ident(ctx.aliases.get(name, name), self.db_name)
        return ident(self.db_name)

    # -- modifiers

    def _with(self, **changes: Any) -> Any:
        if self.table is not None:
            raise SchemaError(f"{self!r} is bound to a table; modify it in the class body")
        return dataclasses.replace(self, **changes)

    @overload
    def not_null(self: Column[V | None]) -> Column[V]: ...
    @overload
    def not_null(self: Column[V]) -> Column[V]: ...
    def not_null(self) -> Column[Any]:
        """``NOT NULL``."""
        return self._with(nullable=False)  # type: ignore[no-any-return]

    @overload
    def primary_key(self: Column[V | None]) -> Column[V]: ...
    @overload
    def primary_key(self: Column[V]) -> Column[V]: ...
    def primary_key(self) -> Column[Any]:
        """``PRIMARY KEY`` (implies ``NOT NULL``)."""
        return self._with(primary=True, nullable=False)  # type: ignore[no-any-return]

    def unique(self) -> Column[T]:
        """``UNIQUE``, as the constraint ``<table>_<column>_key``."""
        return self._with(is_unique=True)  # type: ignore[no-any-return]

    def default(self, value: T) -> Column[T]:
        """``DEFAULT value`` (rendered as a quoted literal in DDL)."""
        return self._with(default_value=value, default_expr=None)  # type: ignore[no-any-return]

    def default_now(self) -> Column[T]:
        """``DEFAULT now()``."""
        from pgbuild.expressions import Raw

        return self._with(default_expr=Raw(("now()",)), default_value=MISSING)  # type: ignore[no-any-return]

    def default_sql(self, expr: Expr[Any]) -> Column[T]:
        """``DEFAULT <expr>``: ``default_sql(sql("gen_random_uuid()"))``."""
        return self._with(default_expr=expr, default_value=MISSING)  # type: ignore[no-any-return]

    def references(
        self,
        target: Callable[[], Column[Any]],
        *,
        on_delete: FkAction | None = None,
        on_update: FkAction | None = None,
    ) -> Column[T]:
        """A foreign key: ``references(lambda: Users.id, on_delete="cascade")``.

        The lambda defers the lookup, so tables may reference each other in any order.
        """
        for action in (on_delete, on_update):
            check_fk_action(action, "references()")
        return self._with(fk=ForeignKeyRef(target, on_delete, on_update))  # type: ignore[no-any-return]

    @overload
    def generated_always_as_identity(
        self: Column[V | None], *, start: int | None = None, increment: int | None = None
    ) -> Column[V]: ...
    @overload
    def generated_always_as_identity(
        self: Column[V], *, start: int | None = None, increment: int | None = None
    ) -> Column[V]: ...
    def generated_always_as_identity(
        self, *, start: int | None = None, increment: int | None = None
    ) -> Column[Any]:
        """``GENERATED ALWAYS AS IDENTITY`` (implies ``NOT NULL``)."""
        return self._with(  # type: ignore[no-any-return]
            identity="always", nullable=False, identity_start=start, identity_increment=increment
        )

    @overload
    def generated_by_default_as_identity(
        self: Column[V | None], *, start: int | None = None, increment: int | None = None
    ) -> Column[V]: ...
    @overload
    def generated_by_default_as_identity(
        self: Column[V], *, start: int | None = None, increment: int | None = None
    ) -> Column[V]: ...
    def generated_by_default_as_identity(
        self, *, start: int | None = None, increment: int | None = None
    ) -> Column[Any]:
        """``GENERATED BY DEFAULT AS IDENTITY [(START WITH s INCREMENT BY i)]``
        (implies ``NOT NULL``); explicit values may be inserted."""
        return self._with(  # type: ignore[no-any-return]
            identity="by default",
            nullable=False,
            identity_start=start,
            identity_increment=increment,
        )

    def generated_always_as(self, expr: Expr[Any]) -> Column[T]:
        """A stored generated column, ``GENERATED ALWAYS AS (expr) STORED``:
        computed by the server, never written by inserts or updates.

        >>> full_name = text().generated_always_as(sql("{f} || ' ' || {l}", f=first, l=last))
        """
        return self._with(generated=expr)  # type: ignore[no-any-return]

    def default_fn(self, fn: Callable[[], T]) -> Column[T]:
        """A default computed in Python for each inserted row that leaves the
        column out: ``uuid().default_fn(uuid4)``."""
        return self._with(default_factory=fn)  # type: ignore[no-any-return]

    def on_update(self, expr: Expr[Any] | Callable[[Column[T]], Expr[Any]]) -> Column[T]:
        """Set to ``expr`` by every UPDATE that leaves the column out (and on
        insert when the column has no default): ``.on_update(sql("now()"))``;
        a function of the column refers to its old value:
        ``.on_update(lambda c: sql("{c} + 1", c=c))``."""
        return self._with(on_update_expr=expr)  # type: ignore[no-any-return]

    def on_update_fn(self, fn: Callable[[], T]) -> Column[T]:
        """Like :meth:`on_update`, with a value computed in Python per statement."""
        return self._with(on_update_factory=fn)  # type: ignore[no-any-return]

    def check(self, condition: Expr[bool] | Callable[[Column[T]], Expr[bool]]) -> Column[T]:
        """A ``CHECK`` on this column: ``integer().check(lambda c: gte(c, 0))``."""
        return self._with(checks=(*self.checks, condition))  # type: ignore[no-any-return]

    @overload
    def array(self: Column[V | None], dimensions: int = 1) -> Column[list[V] | None]: ...
    @overload
    def array(self: Column[V], dimensions: int = 1) -> Column[list[V] | None]: ...
    def array(self, dimensions: int = 1) -> Column[Any]:
        """An array of this type: ``integer().array()`` is ``integer[]``."""
        if dimensions < 1:
            raise SchemaError("array dimensions must be at least 1")
        return self._with(dims=self.dims + dimensions)  # type: ignore[no-any-return]


_TEXT_ARRAY = psycopg.postgres.adapters.get_loader(
    psycopg.postgres.types["text"].array_oid, psycopg.pq.Format.TEXT
)(psycopg.postgres.types["text"].array_oid, None)  # type: ignore[misc]


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _map_array(value: Any, fn: Callable[[Any], Any], dims: int) -> Any:
    if value is None:
        return None
    if dims == 0:
        return fn(value)
    return [_map_array(v, fn, dims - 1) for v in value]


# ------------------------------------------------------------------ factories


def _col(sql_type: str, name: str | None, **extra: Any) -> Any:
    return Column(sql_type, name=name, **extra)


def text(name: str | None = None) -> Column[str | None]:
    """``text``."""
    return _col("text", name)  # type: ignore[no-any-return]


def varchar(length: int | None = None, *, name: str | None = None) -> Column[str | None]:
    """``character varying(length)``."""
    return _col(f"character varying({int(length)})" if length else "character varying", name)  # type: ignore[no-any-return]


def char(length: int = 1, *, name: str | None = None) -> Column[str | None]:
    """``character(length)``."""
    return _col(f"character({int(length)})", name)  # type: ignore[no-any-return]


def smallint(name: str | None = None) -> Column[int | None]:
    """``smallint``."""
    return _col("smallint", name)  # type: ignore[no-any-return]


def integer(name: str | None = None) -> Column[int | None]:
    """``integer``."""
    return _col("integer", name)  # type: ignore[no-any-return]


def bigint(name: str | None = None) -> Column[int | None]:
    """``bigint``."""
    return _col("bigint", name)  # type: ignore[no-any-return]


def serial(name: str | None = None) -> Column[int]:
    """``serial``: an ``integer NOT NULL`` filled from a sequence."""
    return _col("integer", name, serial=True, nullable=False)  # type: ignore[no-any-return]


def bigserial(name: str | None = None) -> Column[int]:
    """``bigserial``: a ``bigint NOT NULL`` filled from a sequence."""
    return _col("bigint", name, serial=True, nullable=False)  # type: ignore[no-any-return]


def boolean(name: str | None = None) -> Column[bool | None]:
    """``boolean``."""
    return _col("boolean", name)  # type: ignore[no-any-return]


def real(name: str | None = None) -> Column[float | None]:
    """``real`` (4-byte float)."""
    return _col("real", name)  # type: ignore[no-any-return]


def double_precision(name: str | None = None) -> Column[float | None]:
    """``double precision``."""
    return _col("double precision", name)  # type: ignore[no-any-return]


def numeric(
    precision: int | None = None, scale: int | None = None, *, name: str | None = None
) -> Column[Decimal | None]:
    """``numeric(precision, scale)``; values are ``Decimal``."""
    if precision is None:
        sql_type = "numeric"
    elif scale is None:
        sql_type = f"numeric({int(precision)})"
    else:
        sql_type = f"numeric({int(precision)},{int(scale)})"
    return _col(sql_type, name)  # type: ignore[no-any-return]


def date(name: str | None = None) -> Column[_date | None]:
    """``date``."""
    return _col("date", name)  # type: ignore[no-any-return]


def time(name: str | None = None) -> Column[_time | None]:
    """``time without time zone``."""
    return _col("time without time zone", name)  # type: ignore[no-any-return]


def timestamp(name: str | None = None, *, with_timezone: bool = True) -> Column[datetime | None]:
    """``timestamp with time zone`` (``timestamptz``), or without when
    ``with_timezone=False``. Aware datetimes are the natural values."""
    tz = "with" if with_timezone else "without"
    return _col(f"timestamp {tz} time zone", name)  # type: ignore[no-any-return]


def interval(name: str | None = None) -> Column[timedelta | None]:
    """``interval``; values are ``timedelta``."""
    return _col("interval", name)  # type: ignore[no-any-return]


def uuid(name: str | None = None) -> Column[UUID | None]:
    """``uuid``; values are ``uuid.UUID``."""
    return _col("uuid", name)  # type: ignore[no-any-return]


@overload
def json(*, name: str | None = None) -> Column[Any]: ...
@overload
def json(shape: type[V], *, name: str | None = None) -> Column[V | None]: ...
def json(shape: Any = None, *, name: str | None = None) -> Column[Any]:
    """``json``; ``json(MyTypedDict)`` types the document."""
    return _col("json", name, json_type="json")  # type: ignore[no-any-return]


@overload
def jsonb(*, name: str | None = None) -> Column[Any]: ...
@overload
def jsonb(shape: type[V], *, name: str | None = None) -> Column[V | None]: ...
def jsonb(shape: Any = None, *, name: str | None = None) -> Column[Any]:
    """``jsonb``; ``jsonb(UserMetadata)`` types the document with a TypedDict."""
    return _col("jsonb", name, json_type="jsonb")  # type: ignore[no-any-return]


def bytea(name: str | None = None) -> Column[bytes | None]:
    """``bytea``; values are ``bytes``."""
    return _col("bytea", name)  # type: ignore[no-any-return]


def inet(
    name: str | None = None,
) -> Column[IPv4Address | IPv6Address | IPv4Interface | IPv6Interface | None]:
    """``inet``; values are ``ipaddress`` addresses or interfaces."""
    return _col("inet", name)  # type: ignore[no-any-return]


def cidr(name: str | None = None) -> Column[IPv4Network | IPv6Network | None]:
    """``cidr``; values are ``ipaddress`` networks."""
    return _col("cidr", name)  # type: ignore[no-any-return]


def macaddr(name: str | None = None) -> Column[str | None]:
    """``macaddr``."""
    return _col("macaddr", name)  # type: ignore[no-any-return]


# ------------------------------------------------------------------ enums


@dataclass(frozen=True, slots=True, eq=False)
class PgEnum(Generic[T]):
    """A PostgreSQL enum type; call it to make a column of that type::

        mood = pg_enum("mood", ["sad", "ok", "happy"])

        class People(Table, name="people"):
            feeling = mood()
    """

    name: str
    values: tuple[str, ...]
    schema: str | None = None
    python: type[enum.Enum] | None = None

    def __call__(self, name: str | None = None) -> Column[T | None]:
        return Column("", name=name, enum_type=self)

    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def type_sql(self) -> pg.Composable:
        return ident(self.schema, self.name) if self.schema else ident(self.name)


@overload
def pg_enum(name: str, values: type[E], *, schema: str | None = None) -> PgEnum[E]: ...
@overload
def pg_enum(name: str, values: Sequence[str], *, schema: str | None = None) -> PgEnum[str]: ...
def pg_enum(name: str, values: Any, *, schema: str | None = None) -> PgEnum[Any]:
    """Declare an enum type from labels or from a Python ``enum.Enum`` (whose
    values are the labels; rows then carry the Enum members)."""
    if isinstance(values, type) and issubclass(values, enum.Enum):
        labels = tuple(str(m.value) for m in values)
        python: type[enum.Enum] | None = values
    else:
        labels = tuple(values)
        python = None
    from pgbuild.table import check_identifier

    check_identifier(name, "enum")
    if schema is not None:
        check_identifier(schema, f"schema of enum {name}")
    for label in labels:
        check_identifier(label, f"label of enum {name}")  # labels are names too: <= 63 bytes
    if not labels:
        raise SchemaError(f"enum {name!r} needs at least one value")
    if len(set(labels)) != len(labels):
        raise SchemaError(f"enum {name!r} has duplicate values")
    return PgEnum(name, labels, schema, python)
