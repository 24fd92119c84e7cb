"""DDL operations: the steps of a migration, each able to write its SQL,
reverse itself (for ``down``) and say whether it loses data.

::

    op = AddColumn("users", Column("nickname", "text"))
    op.statements()   # ['ALTER TABLE users ADD COLUMN nickname text']
    op.reverse()      # DropColumn("users", Column("nickname", "text"))
    op.describe()     # 'add column users.nickname text'

Tables are named by their qualified key (``"users"``, ``"app.t"``). Every
operation carries the state it needs on both sides, so that ``reverse()``
needs nothing else. Statements are plain SQL text, without parameters:
every name goes through :func:`~pgbuild.migrate.model.quote_ident`, every
label through :func:`~pgbuild.migrate.model.quote_literal`; expressions are
the model's SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from pgbuild.migrate.model import (
    Check,
    Column,
    Constraint,
    Enum,
    Exclude,
    ForeignKey,
    Identity,
    Index,
    PrimaryKey,
    Table,
    Unique,
    quote_ident,
    quote_literal,
    split_key,
    sql_name,
)
from pgbuild.migrate.normalize import normal_expr
from pgbuild.migrate.sqlparse import Unparsable, tokenize
from pgbuild.naming import make_object_name

# ------------------------------------------------------------------ SQL pieces


def table_sql(key: str) -> str:
    """The SQL name of the table keyed ``key``."""
    return sql_name(*split_key(key))


def nextval_sequence(default: str | None) -> str | None:
    """The sequence of a ``nextval('seq'::regclass)`` default, as written
    (``"t_id_seq"``, ``"app.t_id_seq"``), or None."""
    if default is None:
        return None
    try:
        tokens = tokenize(default)
    except Unparsable:
        return None
    values = [t.value for t in tokens]
    if (
        len(tokens) >= 4
        and values[:2] == ["nextval", "("]
        and tokens[2].kind == "str"
        and values[-1] == ")"
        and values[3:-1] in ([], ["::", "regclass"])
    ):
        return tokens[2].value
    return None


def serial_sequence(key: str, column: str) -> str:
    """The name PostgreSQL gives the sequence of a ``serial`` column, as a
    regclass text (``t_id_seq``, ``app.t_id_seq``)."""
    schema, name = split_key(key)
    return sql_name(schema, make_object_name(name, column, "seq"))


def serial_default(key: str, column: str) -> str:
    """The default of a ``serial`` column: ``nextval('t_id_seq'::regclass)``."""
    return f"nextval({quote_literal(serial_sequence(key, column))}::regclass)"


_SERIALS = {"smallint": "smallserial", "integer": "serial", "bigint": "bigserial"}


def _is_serial(key: str, col: Column) -> bool:
    return (
        col.type in _SERIALS
        and col.identity is None
        and col.default_key == normal_expr(serial_default(key, col.name))
    )


def column_sql(key: str, col: Column) -> str:
    """A column definition, as in ``CREATE TABLE`` and ``ADD COLUMN``."""
    if _is_serial(key, col):
        return f"{quote_ident(col.name)} {_SERIALS[col.type]}"
    parts = [quote_ident(col.name), col.type]
    if col.identity is not None:
        parts.append(f"GENERATED {col.identity.upper()} AS IDENTITY")
        options = _identity_options(col.identity_start, col.identity_increment)
        if options:
            parts.append(f"({' '.join(options)})")
    if col.generated is not None:
        kind = "VIRTUAL" if col.virtual else "STORED"
        parts.append(f"GENERATED ALWAYS AS ({col.generated}) {kind}")
    if col.not_null:
        parts.append("NOT NULL")
    if col.default is not None:
        parts.append(f"DEFAULT {col.default}")
    return " ".join(parts)


def _identity_options(start: int | None, increment: int | None) -> list[str]:
    out = [] if start is None else [f"START WITH {start}"]
    return out + ([] if increment is None else [f"INCREMENT BY {increment}"])


def _column_prelude(key: str, col: Column) -> list[str]:
    """Statements a column definition needs first: its own sequence when its
    default draws from one that is not a serial's."""
    sequence = nextval_sequence(col.default)
    if sequence is None or _is_serial(key, col):
        return []
    return [f"CREATE SEQUENCE IF NOT EXISTS {sequence}"]


def _column_after(key: str, col: Column) -> list[str]:
    if _is_serial(key, col) and not col.not_null:
        return [f"ALTER TABLE {table_sql(key)} ALTER COLUMN {quote_ident(col.name)} DROP NOT NULL"]
    return []


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(quote_ident(n) for n in names)


def _deferrable(c: PrimaryKey | Unique | ForeignKey) -> str:
    if not c.deferrable:
        return ""
    return " DEFERRABLE INITIALLY DEFERRED" if c.initially_deferred else " DEFERRABLE"


def constraint_sql(c: Constraint) -> str:
    """A constraint's definition, after ``ADD CONSTRAINT name``."""
    if isinstance(c, PrimaryKey):
        return f"PRIMARY KEY ({_names(c.columns)}){_deferrable(c)}"
    if isinstance(c, Unique):
        nnd = " NULLS NOT DISTINCT" if c.nulls_not_distinct else ""
        return f"UNIQUE{nnd} ({_names(c.columns)}){_deferrable(c)}"
    if isinstance(c, Check):
        return f"CHECK ({c.expression})"
    if isinstance(c, Exclude):
        return c.definition
    out = (
        f"FOREIGN KEY ({_names(c.columns)}) REFERENCES {table_sql(c.ref_table)} "
        f"({_names(c.ref_columns)})"
    )
    if c.on_delete != "no action":
        out += f" ON DELETE {c.on_delete.upper()}"
    if c.on_update != "no action":
        out += f" ON UPDATE {c.on_update.upper()}"
    return out + _deferrable(c)


def _kind(c: Constraint) -> str:
    return {
        PrimaryKey: "primary key", Unique: "unique", Check: "check", Exclude: "exclusion",
        ForeignKey: "foreign key",
    }[type(c)]


def index_sql(key: str, index: Index) -> str:
    """``CREATE [UNIQUE] INDEX ...`` for ``index`` on the table keyed ``key``."""
    out = "CREATE UNIQUE INDEX " if index.unique else "CREATE INDEX "
    out += f"{quote_ident(index.name)} ON {table_sql(key)} USING {index.method} "
    out += f"({', '.join(index.columns)})"
    if index.include:
        out += f" INCLUDE ({_names(index.include)})"
    if index.nulls_not_distinct:
        out += " NULLS NOT DISTINCT"
    if index.predicate is not None:
        out += f" WHERE {index.predicate}"
    return out


def _alter(key: str, column: str) -> str:
    return f"ALTER TABLE {table_sql(key)} ALTER COLUMN {quote_ident(column)}"


def _labels(values: tuple[str, ...]) -> str:
    return ", ".join(quote_literal(v) for v in values)


# ------------------------------------------------------------------ the base


@dataclass(frozen=True)
class Op:
    """One step of a migration."""

    #: The statements must be committed before later statements use what
    #: they made (``ALTER TYPE ... ADD VALUE``: PostgreSQL 12+ runs it in a
    #: transaction block, but refuses to use the new value before commit).
    needs_commit: ClassVar[bool] = False

    def statements(self) -> list[str]:
        """The SQL, one statement per item, ready to run as is."""
        raise NotImplementedError

    def reverse(self) -> Op:
        """The operation that undoes this one."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for humans: ``"drop column users.nickname"``."""
        raise NotImplementedError

    @property
    def loses_data(self) -> bool:
        """Whether running it can destroy stored data."""
        return False


# ------------------------------------------------------------------ schemas


@dataclass(frozen=True)
class CreateSchema(Op):
    """``CREATE SCHEMA IF NOT EXISTS``: the schema may already hold the
    migrations' tracking table, which the model leaves out."""

    name: str

    def statements(self) -> list[str]:
        return [f"CREATE SCHEMA IF NOT EXISTS {quote_ident(self.name)}"]

    def reverse(self) -> Op:
        return DropSchema(self.name)

    def describe(self) -> str:
        return f"create schema {self.name}"


@dataclass(frozen=True)
class DropSchema(Op):
    name: str

    def statements(self) -> list[str]:
        return [f"DROP SCHEMA {quote_ident(self.name)}"]

    def reverse(self) -> Op:
        return CreateSchema(self.name)

    def describe(self) -> str:
        return f"drop schema {self.name}"


@dataclass(frozen=True)
class RenameSchema(Op):
    old: str
    new: str

    def statements(self) -> list[str]:
        return [f"ALTER SCHEMA {quote_ident(self.old)} RENAME TO {quote_ident(self.new)}"]

    def reverse(self) -> Op:
        return RenameSchema(self.new, self.old)

    def describe(self) -> str:
        return f"rename schema {self.old} to {self.new}"


@dataclass(frozen=True)
class CreateExtension(Op):
    """``CREATE EXTENSION IF NOT EXISTS``; the differ never drops one (other
    things may use it), only the reverse of creating it does."""

    name: str

    def statements(self) -> list[str]:
        return [f"CREATE EXTENSION IF NOT EXISTS {quote_ident(self.name)}"]

    def reverse(self) -> Op:
        return DropExtension(self.name)

    def describe(self) -> str:
        return f"create extension {self.name}"


@dataclass(frozen=True)
class DropExtension(Op):
    """``DROP EXTENSION`` (never ``CASCADE``): what the extension holds goes
    with it, so it counts as losing data."""

    name: str

    def statements(self) -> list[str]:
        return [f"DROP EXTENSION {quote_ident(self.name)}"]

    def reverse(self) -> Op:
        return CreateExtension(self.name)

    @property
    def loses_data(self) -> bool:
        return True

    def describe(self) -> str:
        return f"drop extension {self.name}"


# ------------------------------------------------------------------ enums


@dataclass(frozen=True)
class EnumUse:
    """A column of an enum type (or an array of it), with its default before
    and after the enum is recreated."""

    table: str
    column: str
    type: str
    default_before: str | None = None
    default_after: str | None = None

    def swapped(self) -> EnumUse:
        return replace(self, default_before=self.default_after, default_after=self.default_before)


@dataclass(frozen=True)
class CreateEnum(Op):
    enum: Enum

    def statements(self) -> list[str]:
        return [f"CREATE TYPE {self.enum.sql_name} AS ENUM ({_labels(self.enum.values)})"]

    def reverse(self) -> Op:
        return DropEnum(self.enum)

    def describe(self) -> str:
        return f"create enum {self.enum.key} ({_labels(self.enum.values)})"


@dataclass(frozen=True)
class DropEnum(Op):
    enum: Enum

    def statements(self) -> list[str]:
        return [f"DROP TYPE {self.enum.sql_name}"]

    def reverse(self) -> Op:
        return CreateEnum(self.enum)

    def describe(self) -> str:
        return f"drop enum {self.enum.key}"


@dataclass(frozen=True)
class RenameEnum(Op):
    before: Enum
    after: Enum

    def statements(self) -> list[str]:
        out = []
        current = self.before
        if self.before.name != self.after.name:
            out.append(f"ALTER TYPE {current.sql_name} RENAME TO {quote_ident(self.after.name)}")
            current = replace(current, name=self.after.name)
        if self.before.schema != self.after.schema:
            out.append(f"ALTER TYPE {current.sql_name} SET SCHEMA {quote_ident(self.after.schema)}")
        return out

    def reverse(self) -> Op:
        return RenameEnum(self.after, self.before)

    def describe(self) -> str:
        return f"rename enum {self.before.key} to {self.after.key}"


@dataclass(frozen=True)
class AddEnumValue(Op):
    """``ALTER TYPE ... ADD VALUE``; ``after`` is the enum with the value in
    place, ``uses`` the columns of the type (for the reverse, which has to
    recreate the type: PostgreSQL cannot drop an enum value)."""

    before: Enum
    after: Enum
    value: str
    uses: tuple[EnumUse, ...] = ()
    indexes: tuple[tuple[str, Index], ...] = ()
    checks: tuple[tuple[str, Check], ...] = ()

    needs_commit: ClassVar[bool] = True

    def statements(self) -> list[str]:
        values = self.after.values
        i = values.index(self.value)
        where = ""
        if i > 0:
            where = f" AFTER {quote_literal(values[i - 1])}"
        elif len(values) > 1:
            where = f" BEFORE {quote_literal(values[1])}"
        return [f"ALTER TYPE {self.after.sql_name} ADD VALUE {quote_literal(self.value)}{where}"]

    def reverse(self) -> Op:
        return RecreateEnum(self.after, self.before, self.uses, self.indexes, self.checks)

    def describe(self) -> str:
        return f"add value {quote_literal(self.value)} to enum {self.after.key}"


@dataclass(frozen=True)
class RenameEnumValue(Op):
    enum: Enum
    old: str
    new: str

    def statements(self) -> list[str]:
        return [
            f"ALTER TYPE {self.enum.sql_name} RENAME VALUE {quote_literal(self.old)} "
            f"TO {quote_literal(self.new)}"
        ]

    def reverse(self) -> Op:
        return RenameEnumValue(self.enum, self.new, self.old)

    def describe(self) -> str:
        return f"rename value {quote_literal(self.old)} of enum {self.enum.key} to " + (
            quote_literal(self.new)
        )


@dataclass(frozen=True)
class RecreateEnum(Op):
    """Replace an enum by one with other values (dropped or reordered ones,
    which ``ALTER TYPE`` cannot do): rename the old type, create the new one,
    convert every column (``uses``) through text, drop the old type. Indexes
    and checks whose expressions use those columns (they may compare with a
    label of the old type) are dropped first and made again last. Rows
    holding a value that is gone make it fail."""

    before: Enum
    after: Enum
    uses: tuple[EnumUse, ...] = ()
    indexes: tuple[tuple[str, Index], ...] = ()
    checks: tuple[tuple[str, Check], ...] = ()

    def statements(self) -> list[str]:
        old_name = make_object_name(self.before.name, None, "pgbuild_old")
        old = replace(self.before, name=old_name)
        out = [s for key, i in self.indexes for s in DropIndex(key, i).statements()]
        out += [s for key, c in self.checks for s in DropConstraint(key, c).statements()]
        out += [
            f"ALTER TYPE {self.before.sql_name} RENAME TO {quote_ident(old_name)}",
            f"CREATE TYPE {self.after.sql_name} AS ENUM ({_labels(self.after.values)})",
        ]
        for use in self.uses:
            alter = _alter(use.table, use.column)
            if use.default_before is not None:
                out.append(f"{alter} DROP DEFAULT")
            dims = use.type[len(self.before.sql_name):]
            out.append(
                f"{alter} TYPE {self.after.sql_name}{dims} "
                f"USING {quote_ident(use.column)}::text{dims}::{self.after.sql_name}{dims}"
            )
            if use.default_after is not None:
                out.append(f"{alter} SET DEFAULT {use.default_after}")
        out += [s for key, c in self.checks for s in AddConstraint(key, c).statements()]
        out += [s for key, i in self.indexes for s in CreateIndex(key, i).statements()]
        out.append(f"DROP TYPE {old.sql_name}")
        return out

    def reverse(self) -> Op:
        uses = tuple(u.swapped() for u in self.uses)
        return RecreateEnum(self.after, self.before, uses, self.indexes, self.checks)

    @property
    def loses_data(self) -> bool:
        return not set(self.before.values) <= set(self.after.values)

    def describe(self) -> str:
        gone = [v for v in self.before.values if v not in self.after.values]
        what = f"drop values {_labels(tuple(gone))}" if gone else "reorder values"
        return f"recreate enum {self.after.key} ({what})"


# ------------------------------------------------------------------ tables


@dataclass(frozen=True)
class CreateTable(Op):
    """``CREATE TABLE`` with columns, primary key, unique, check and
    exclusion constraints; foreign keys and indexes are operations of their
    own (they may need tables created later)."""

    table: Table

    def statements(self) -> list[str]:
        key = self.table.key
        out: list[str] = []
        for col in self.table.columns:
            out += _column_prelude(key, col)
        body = [column_sql(key, c) for c in self.table.columns]
        for c in self.table.constraints():
            if not isinstance(c, ForeignKey):
                body.append(f"CONSTRAINT {quote_ident(c.name)} {constraint_sql(c)}")
        out.append(f"CREATE TABLE {self.table.sql_name} (\n    " + ",\n    ".join(body) + "\n)")
        for col in self.table.columns:
            out += _column_after(key, col)
        return out

    def reverse(self) -> Op:
        return DropTable(self.table)

    def describe(self) -> str:
        return f"create table {self.table.key}"


@dataclass(frozen=True)
class DropTable(Op):
    table: Table

    def statements(self) -> list[str]:
        return [f"DROP TABLE {self.table.sql_name}"]

    def reverse(self) -> Op:
        return CreateTable(self.table)

    @property
    def loses_data(self) -> bool:
        return True

    def describe(self) -> str:
        return f"drop table {self.table.key}"


@dataclass(frozen=True)
class RenameTable(Op):
    """Rename a table and/or move it to another schema; ``sequences`` are
    its serial columns' sequences to rename along (old name, new name), so
    they keep PostgreSQL's naming."""

    old: str
    new: str
    sequences: tuple[tuple[str, str], ...] = ()

    def statements(self) -> list[str]:
        old_schema, old_name = split_key(self.old)
        new_schema, new_name = split_key(self.new)
        out = []
        current = self.old
        if old_name != new_name:
            out.append(f"ALTER TABLE {table_sql(current)} RENAME TO {quote_ident(new_name)}")
            current = sql_name(old_schema, new_name)
        else:
            current = table_sql(current)
        if old_schema != new_schema:
            out.append(f"ALTER TABLE {current} SET SCHEMA {quote_ident(new_schema)}")
        for before, after in self.sequences:
            out.append(
                f"ALTER SEQUENCE {sql_name(new_schema, before)} RENAME TO {quote_ident(after)}"
            )
        return out

    def reverse(self) -> Op:
        return RenameTable(self.new, self.old, tuple((b, a) for a, b in self.sequences))

    def describe(self) -> str:
        return f"rename table {self.old} to {self.new}"


# ------------------------------------------------------------------ columns


@dataclass(frozen=True)
class AddColumn(Op):
    table: str
    column: Column

    def statements(self) -> list[str]:
        column = column_sql(self.table, self.column)
        add = f"ALTER TABLE {table_sql(self.table)} ADD COLUMN {column}"
        return [
            *_column_prelude(self.table, self.column),
            add,
            *_column_after(self.table, self.column),
        ]

    def reverse(self) -> Op:
        return DropColumn(self.table, self.column)

    def describe(self) -> str:
        return f"add column {self.table}.{self.column.name} {self.column.type}"


@dataclass(frozen=True)
class DropColumn(Op):
    table: str
    column: Column

    def statements(self) -> list[str]:
        return [f"ALTER TABLE {table_sql(self.table)} DROP COLUMN {quote_ident(self.column.name)}"]

    def reverse(self) -> Op:
        return AddColumn(self.table, self.column)

    @property
    def loses_data(self) -> bool:
        return True

    def describe(self) -> str:
        return f"drop column {self.table}.{self.column.name}"


@dataclass(frozen=True)
class RenameColumn(Op):
    """Rename a column; ``sequence`` is its serial sequence's (old, new) name."""

    table: str
    old: str
    new: str
    sequence: tuple[str, str] | None = None

    def statements(self) -> list[str]:
        out = [
            f"ALTER TABLE {table_sql(self.table)} RENAME COLUMN {quote_ident(self.old)} "
            f"TO {quote_ident(self.new)}"
        ]
        if self.sequence is not None:
            schema, _ = split_key(self.table)
            before, after = self.sequence
            out.append(f"ALTER SEQUENCE {sql_name(schema, before)} RENAME TO {quote_ident(after)}")
        return out

    def reverse(self) -> Op:
        seq = (self.sequence[1], self.sequence[0]) if self.sequence else None
        return RenameColumn(self.table, self.new, self.old, seq)

    def describe(self) -> str:
        return f"rename column {self.table}.{self.old} to {self.new}"


@dataclass(frozen=True)
class RecreateColumn(Op):
    """Drop and add a column again: what making a column generated (or a
    generated column stored instead of virtual, or a virtual one plain) takes."""

    table: str
    before: Column
    after: Column

    def statements(self) -> list[str]:
        return DropColumn(self.table, self.before).statements() + AddColumn(
            self.table, self.after
        ).statements()

    def reverse(self) -> Op:
        return RecreateColumn(self.table, self.after, self.before)

    @property
    def loses_data(self) -> bool:
        return self.before.generated is None or self.after.generated is None

    def describe(self) -> str:
        return f"recreate column {self.table}.{self.after.name} (generated)"


# Conversions that keep every value (the rest may lose data).
_INTS = ("smallint", "integer", "bigint")
_INT_DIGITS = {"smallint": 5, "integer": 10, "bigint": 19}


def _modifiers(type_: str) -> tuple[str, tuple[int, ...]]:
    base, _, rest = type_.partition("(")
    mods = tuple(int(x) for x in rest.rstrip(")").split(",")) if rest else ()
    return base, mods


def widens(before: str, after: str) -> bool:
    """Whether converting ``before`` to ``after`` keeps every value."""
    if before == after:
        return True
    if before.endswith("[]") != after.endswith("[]"):
        return False
    if before.endswith("[]"):
        return widens(before[:-2], after[:-2])
    (b, bm), (a, am) = _modifiers(before), _modifiers(after)
    if a == "text" or (a == "character varying" and not am):
        return b != "bytea"
    if b in ("character varying", "character") and a == "character varying":
        return bool(bm) and am[0] >= bm[0]
    if b in _INTS and a in _INTS:
        return _INTS.index(b) <= _INTS.index(a)
    if b in _INTS and a == "numeric":
        return not am or am[0] - (am[1] if len(am) > 1 else 0) >= _INT_DIGITS[b]
    if b == "numeric" and a == "numeric":
        if not am:
            return True
        if not bm:
            return False
        bs, as_ = (bm[1] if len(bm) > 1 else 0), (am[1] if len(am) > 1 else 0)
        return as_ >= bs and am[0] - as_ >= bm[0] - bs
    if (b, a) in (("real", "double precision"), ("smallint", "real"),
                  ("smallint", "double precision"), ("integer", "double precision"),
                  ("jsonb", "json"), ("date", "timestamp without time zone"),
                  ("date", "timestamp with time zone"),
                  ("timestamp without time zone", "timestamp with time zone")):
        return True
    return False


@dataclass(frozen=True)
class AlterColumnType(Op):
    """``ALTER COLUMN ... TYPE ... USING``; ``via_text`` converts through
    text (enums have no cast to other types but text)."""

    table: str
    column: str
    before: str
    after: str
    via_text: bool = False
    using: bool = True

    def statements(self) -> list[str]:
        out = f"{_alter(self.table, self.column)} TYPE {self.after}"
        if self.using:
            col = quote_ident(self.column)
            if self.via_text:
                dims = "[]" if self.before.endswith("[]") else ""
                col += f"::text{dims}"
            out += f" USING {col}::{self.after}"
        return [out]

    def reverse(self) -> Op:
        return AlterColumnType(
            self.table, self.column, self.after, self.before, self.via_text, self.using
        )

    @property
    def loses_data(self) -> bool:
        return not widens(self.before, self.after)

    def describe(self) -> str:
        return f"alter column {self.table}.{self.column} type {self.before} -> {self.after}"


@dataclass(frozen=True)
class SetNotNull(Op):
    """``SET NOT NULL`` (``not_null``) or ``DROP NOT NULL``."""

    table: str
    column: str
    not_null: bool

    def statements(self) -> list[str]:
        return [f"{_alter(self.table, self.column)} {'SET' if self.not_null else 'DROP'} NOT NULL"]

    def reverse(self) -> Op:
        return SetNotNull(self.table, self.column, not self.not_null)

    def describe(self) -> str:
        verb = "set" if self.not_null else "drop"
        return f"{verb} not null {self.table}.{self.column}"


@dataclass(frozen=True)
class SetDefault(Op):
    """Set, change or drop (``after`` None) a column default. A ``nextval``
    default gets its sequence created (owned by the column) and moved past
    the column's largest value."""

    table: str
    column: str
    before: str | None
    after: str | None

    def statements(self) -> list[str]:
        alter = _alter(self.table, self.column)
        if self.after is None:
            return [f"{alter} DROP DEFAULT"]
        sequence = nextval_sequence(self.after)
        if sequence is None or normal_expr(self.before) == normal_expr(self.after):
            return [f"{alter} SET DEFAULT {self.after}"]
        col, table = quote_ident(self.column), table_sql(self.table)
        return [
            f"CREATE SEQUENCE IF NOT EXISTS {sequence} OWNED BY {table}.{col}",
            f"{alter} SET DEFAULT {self.after}",
            f"SELECT setval({quote_literal(sequence)}, COALESCE(max({col}), 0) + 1, false) "
            f"FROM {table}",
        ]

    def reverse(self) -> Op:
        return SetDefault(self.table, self.column, self.after, self.before)

    def describe(self) -> str:
        if self.after is None:
            return f"drop default {self.table}.{self.column}"
        return f"set default {self.table}.{self.column} = {self.after}"


@dataclass(frozen=True)
class SetIdentity(Op):
    """Add (``before`` None), change or drop (``after`` None) an identity;
    ``*_options`` are its sequence's (start, increment), None for defaults."""

    table: str
    column: str
    before: Identity | None
    after: Identity | None
    before_options: tuple[int | None, int | None] = (None, None)
    after_options: tuple[int | None, int | None] = (None, None)

    def statements(self) -> list[str]:
        alter = _alter(self.table, self.column)
        if self.after is None:
            return [f"{alter} DROP IDENTITY"]
        start, increment = self.after_options
        if self.before is None:
            options = _identity_options(start, increment)
            col, table = quote_ident(self.column), table_sql(self.table)
            first = 1 if start is None else start
            add = f"{alter} ADD GENERATED {self.after.upper()} AS IDENTITY"
            return [
                add + (f" ({' '.join(options)})" if options else ""),
                f"SELECT setval(pg_get_serial_sequence({quote_literal(table)}, "
                f"{quote_literal(self.column)}), GREATEST(COALESCE(max({col}) + 1, {first}), "
                f"{first}), false) FROM {table}",
            ]
        changes = []
        if self.before != self.after:
            changes.append(f"SET GENERATED {self.after.upper()}")
        if self.before_options != self.after_options:
            step = 1 if increment is None else increment
            changes.append(f"SET INCREMENT BY {step}")
            changes.append(f"SET START WITH {(1 if step > 0 else -1) if start is None else start}")
        return [f"{alter} {' '.join(changes)}"]

    def reverse(self) -> Op:
        return SetIdentity(
            self.table, self.column, self.after, self.before, self.after_options,
            self.before_options,
        )

    def describe(self) -> str:
        if self.after is None:
            return f"drop identity {self.table}.{self.column}"
        verb = "add" if self.before is None else "set"
        return f"{verb} identity {self.table}.{self.column} (generated {self.after})"


@dataclass(frozen=True)
class DropExpression(Op):
    """A generated column becomes a plain one, keeping its values."""

    table: str
    before: Column
    after: Column

    def statements(self) -> list[str]:
        return [f"{_alter(self.table, self.before.name)} DROP EXPRESSION"]

    def reverse(self) -> Op:
        return RecreateColumn(self.table, self.after, self.before)

    def describe(self) -> str:
        return f"drop expression {self.table}.{self.before.name} (no longer generated)"


@dataclass(frozen=True)
class SetExpression(Op):
    """Change a generated column's expression (PostgreSQL 17+)."""

    table: str
    column: str
    before: str
    after: str

    def statements(self) -> list[str]:
        return [f"{_alter(self.table, self.column)} SET EXPRESSION AS ({self.after})"]

    def reverse(self) -> Op:
        return SetExpression(self.table, self.column, self.after, self.before)

    def describe(self) -> str:
        return f"set expression {self.table}.{self.column} = {self.after}"


# ------------------------------------------------------------------ constraints and indexes


@dataclass(frozen=True)
class AddConstraint(Op):
    table: str
    constraint: Constraint

    def statements(self) -> list[str]:
        c = self.constraint
        return [
            f"ALTER TABLE {table_sql(self.table)} ADD CONSTRAINT {quote_ident(c.name)} "
            f"{constraint_sql(c)}"
        ]

    def reverse(self) -> Op:
        return DropConstraint(self.table, self.constraint)

    def describe(self) -> str:
        return f"add {_kind(self.constraint)} {self.constraint.name} on {self.table}"


@dataclass(frozen=True)
class DropConstraint(Op):
    table: str
    constraint: Constraint

    def statements(self) -> list[str]:
        return [
            f"ALTER TABLE {table_sql(self.table)} DROP CONSTRAINT "
            f"{quote_ident(self.constraint.name)}"
        ]

    def reverse(self) -> Op:
        return AddConstraint(self.table, self.constraint)

    def describe(self) -> str:
        return f"drop {_kind(self.constraint)} {self.constraint.name} on {self.table}"


@dataclass(frozen=True)
class RenameConstraint(Op):
    table: str
    old: str
    new: str

    def statements(self) -> list[str]:
        return [
            f"ALTER TABLE {table_sql(self.table)} RENAME CONSTRAINT {quote_ident(self.old)} "
            f"TO {quote_ident(self.new)}"
        ]

    def reverse(self) -> Op:
        return RenameConstraint(self.table, self.new, self.old)

    def describe(self) -> str:
        return f"rename constraint {self.old} on {self.table} to {self.new}"


@dataclass(frozen=True)
class CreateIndex(Op):
    table: str
    index: Index

    def statements(self) -> list[str]:
        return [index_sql(self.table, self.index)]

    def reverse(self) -> Op:
        return DropIndex(self.table, self.index)

    def describe(self) -> str:
        return f"create index {self.index.name} on {self.table}"


@dataclass(frozen=True)
class DropIndex(Op):
    table: str
    index: Index

    def statements(self) -> list[str]:
        schema, _ = split_key(self.table)
        return [f"DROP INDEX {sql_name(schema, self.index.name)}"]

    def reverse(self) -> Op:
        return CreateIndex(self.table, self.index)

    def describe(self) -> str:
        return f"drop index {self.index.name} on {self.table}"


@dataclass(frozen=True)
class RenameIndex(Op):
    table: str
    old: str
    new: str

    def statements(self) -> list[str]:
        schema, _ = split_key(self.table)
        return [f"ALTER INDEX {sql_name(schema, self.old)} RENAME TO {quote_ident(self.new)}"]

    def reverse(self) -> Op:
        return RenameIndex(self.table, self.new, self.old)

    def describe(self) -> str:
        return f"rename index {self.old} on {self.table} to {self.new}"
