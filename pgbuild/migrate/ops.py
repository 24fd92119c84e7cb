"""DDL operations: the steps of a migration, each able to write its SQL,
reverse itself (for ``down``) and say whether it loses data.

::

    op = AddColumn("users", Column("nickname", "text"))
    op.statements()   # ['ALTER TABLE users ADD COLUMN nickname text']
    op.reverse()      # DropColumn("users", Column("nickname", "text"))
    op.describe()     # 'add column users.nickname text'

Tables are named by their qualified key (``"users"``, ``"app.t"``). Every
operation carries the state it needs on both sides, so that ``reverse()``
needs nothing else. Statements are plain SQL text, without parameters,
written with :mod:`pgbuild.migrate.sqltext`.

This module has the base and the operations on schemas, extensions, enums,
tables, constraints and indexes; :mod:`pgbuild.migrate.column_ops` has those
on columns.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from pgbuild.migrate.model import (
    Check,
    Constraint,
    Enum,
    ForeignKey,
    Index,
    Table,
    quote_ident,
    quote_literal,
    split_key,
    sql_name,
)
from pgbuild.migrate.sqltext import (
    alter_column,
    column_after,
    column_prelude,
    column_sql,
    constraint_kind,
    constraint_sql,
    index_sql,
    labels_sql,
    table_sql,
)
from pgbuild.naming import make_object_name

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
        return [f"CREATE TYPE {self.enum.sql_name} AS ENUM ({labels_sql(self.enum.values)})"]

    def reverse(self) -> Op:
        return DropEnum(self.enum)

    def describe(self) -> str:
        return f"create enum {self.enum.key} ({labels_sql(self.enum.values)})"


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
            f"CREATE TYPE {self.after.sql_name} AS ENUM ({labels_sql(self.after.values)})",
        ]
        for use in self.uses:
            alter = alter_column(use.table, use.column)
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
        what = f"drop values {labels_sql(tuple(gone))}" if gone else "reorder values"
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
            out += column_prelude(key, col)
        body = [column_sql(key, c) for c in self.table.columns]
        for c in self.table.constraints():
            if not isinstance(c, ForeignKey):
                body.append(f"CONSTRAINT {quote_ident(c.name)} {constraint_sql(c)}")
        out.append(f"CREATE TABLE {self.table.sql_name} (\n    " + ",\n    ".join(body) + "\n)")
        for col in self.table.columns:
            out += column_after(key, col)
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
        return f"add {constraint_kind(self.constraint)} {self.constraint.name} on {self.table}"


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
        return f"drop {constraint_kind(self.constraint)} {self.constraint.name} on {self.table}"


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
