"""Column operations of a migration: add, drop, rename, recreate, and
alter a column's type, nullability, default, identity or generation
expression (see :mod:`pgbuild.migrate.ops` for what an operation is)."""

from __future__ import annotations

from dataclasses import dataclass

from pgbuild.migrate.model import Column, Identity, quote_ident, quote_literal, split_key, sql_name
from pgbuild.migrate.normalize import normal_expr
from pgbuild.migrate.ops import Op
from pgbuild.migrate.sqltext import (
    alter_column,
    column_after,
    column_prelude,
    column_sql,
    identity_options,
    nextval_sequence,
    table_sql,
)


@dataclass(frozen=True)
class AddColumn(Op):
    table: str
    column: Column

    def statements(self) -> list[str]:
        column = column_sql(self.table, self.column)
        add = f"ALTER TABLE {table_sql(self.table)} ADD COLUMN {column}"
        return [
            *column_prelude(self.table, self.column),
            add,
            *column_after(self.table, self.column),
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
        out = f"{alter_column(self.table, self.column)} TYPE {self.after}"
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
        verb = "SET" if self.not_null else "DROP"
        return [f"{alter_column(self.table, self.column)} {verb} NOT NULL"]

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
        alter = alter_column(self.table, self.column)
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
        alter = alter_column(self.table, self.column)
        if self.after is None:
            return [f"{alter} DROP IDENTITY"]
        start, increment = self.after_options
        if self.before is None:
            options = identity_options(start, increment)
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
        return [f"{alter_column(self.table, self.before.name)} DROP EXPRESSION"]

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
        return [f"{alter_column(self.table, self.column)} SET EXPRESSION AS ({self.after})"]

    def reverse(self) -> Op:
        return SetExpression(self.table, self.column, self.after, self.before)

    def describe(self) -> str:
        return f"set expression {self.table}.{self.column} = {self.after}"
