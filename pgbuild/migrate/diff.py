"""The differ: the ordered operations that turn one schema model into another.

::

    ops = diff(snapshot, declared, renames={"users.nickname": "handle"})
    for op in ops:
        print(op.describe())             # rename column users.nickname to handle
        sql = op.statements()
    down = [op.reverse() for op in reversed(ops)]

A column (or table) that disappears while one like it appears is a rename
or a drop and an add, which only the user can tell: without an answer in
``renames``, :class:`AmbiguousRename` is raised, listing the answers to
give. ``renames`` maps:

- ``"table.old_column"`` → ``"new_column"`` (``"app.t.old"`` outside public),
- ``"old_table"`` → ``"new_table"`` (qualified keys: ``"app.t"``),
- ``"enum:mood"`` → ``"feeling"``, ``"enum:mood:sad"`` → ``"unhappy"`` (a value),
- ``"schema:app"`` → ``"core"``,

and any key to ``""``: not a rename (drop and add).

Order: extensions created; schemas; drops of foreign keys, indexes and
constraints that change or go; dropped columns and tables; renames; enums;
new tables; columns; constraints, foreign keys, indexes; dropped enums,
extensions (only those ``b`` declares dropped: an extension is never
dropped for being no longer declared) and schemas. Drops name things as they are before the
renames, everything after as they will be.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from pgbuild.errors import PgbuildError
from pgbuild.migrate.column_ops import (
    AddColumn,
    AlterColumnType,
    DropColumn,
    DropExpression,
    RecreateColumn,
    RenameColumn,
    SetDefault,
    SetExpression,
    SetIdentity,
    SetNotNull,
)
from pgbuild.migrate.model import (
    Check,
    Column,
    Enum,
    ForeignKey,
    Index,
    PrimaryKey,
    Schema,
    Table,
    Unique,
    qualified_key,
    rewrite_expr,
    split_key,
)
from pgbuild.migrate.normalize import identifiers_in
from pgbuild.migrate.ops import (
    AddConstraint,
    AddEnumValue,
    CreateEnum,
    CreateExtension,
    CreateIndex,
    CreateSchema,
    CreateTable,
    DropConstraint,
    DropEnum,
    DropExtension,
    DropIndex,
    DropSchema,
    DropTable,
    EnumUse,
    Op,
    RecreateEnum,
    RenameConstraint,
    RenameEnum,
    RenameEnumValue,
    RenameIndex,
    RenameSchema,
    RenameTable,
)
from pgbuild.migrate.sqlparse import Unparsable, tokenize
from pgbuild.migrate.sqltext import (
    nextval_sequence,
    serial_default,
    serial_sequence,
)
from pgbuild.naming import make_object_name

C = TypeVar("C", bound=Any)

__all__ = ["AmbiguousRename", "Op", "RenameError", "diff"]


class AmbiguousRename(PgbuildError):
    """Something disappeared while something like it appeared: a rename, or
    a drop and an add? ``candidates`` are ``(key, new name)`` pairs, each
    usable as is in ``renames`` (``--rename key=new``)."""

    def __init__(self, candidates: list[tuple[str, str]]) -> None:
        self.candidates = candidates
        lines = "\n".join(f"  --rename {old}={new}" for old, new in candidates)
        super().__init__(
            "ambiguous change: each of these is a rename, or a drop and an add. Answer with "
            "--rename OLD=NEW for a rename, or --rename OLD= for a drop and an add:\n" + lines
        )


class RenameError(PgbuildError):
    """A ``renames`` entry names something that does not exist; ``key`` is
    that entry's key (None when no single entry is to blame)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def diff(a: Schema, b: Schema, *, renames: Mapping[str, str] | None = None) -> list[Op]:
    """The operations that turn schema ``a`` into schema ``b``, in order.

    Raises :class:`AmbiguousRename` when a drop and an add could be a rename
    that ``renames`` does not answer, :class:`RenameError` for an entry of
    ``renames`` that matches nothing.
    """
    return _Differ(a, b, dict(renames or {})).run()


def _base(type_: str) -> str:
    return type_.split("[", 1)[0]


def _dims(type_: str) -> str:
    return type_[len(_base(type_)) :]


def _same_but_name(x: Any, y: Any) -> bool:
    return bool(replace(x, name="") == replace(y, name=""))


@dataclass
class _Match:
    """How the constraints (or indexes) of one table compare."""

    drops: list[Any] = field(default_factory=list)
    adds: list[Any] = field(default_factory=list)
    renames: list[tuple[str, str]] = field(default_factory=list)


def _match(old: Sequence[C], new: Sequence[C], touched: set[str]) -> _Match:
    out = _Match()
    new_by = {c.name: c for c in new}
    old_names = {c.name for c in old}
    pending = [c for c in new if c.name not in old_names]
    for c in old:
        other = new_by.get(c.name)
        if other is not None:
            if c != other or c.name in touched:
                out.drops.append(c)
                out.adds.append(other)
            continue
        twin = next((d for d in pending if _same_but_name(c, d)), None)
        if twin is not None and c.name not in touched:
            out.renames.append((c.name, twin.name))
            pending.remove(twin)
        else:
            out.drops.append(c)
    out.adds += pending
    return out


class _Differ:
    def __init__(self, a: Schema, b: Schema, renames: dict[str, str]) -> None:
        self.a, self.b = a, b
        self.schema_renames: dict[str, str] = {}
        self.enum_renames: dict[str, str] = {}
        self.value_renames: dict[str, dict[str, str]] = {}
        self.table_map: dict[str, str] = {}
        self.column_renames: dict[str, dict[str, str]] = {}
        self.not_renames: set[str] = set()
        self.column_keys: dict[tuple[str, str], str] = {}  # (table, column) -> renames key
        self._read_renames(renames)
        self._map_tables()
        self._check_ambiguity()
        self._build_renamed()

    # -- renames

    def _read_renames(self, renames: dict[str, str]) -> None:
        a, b = self.a, self.b
        columns: list[tuple[str, str]] = []
        for key, value in renames.items():
            if key.startswith("schema:"):
                old = key[len("schema:"):]
                if value and old != value:
                    if old not in a.schemas or value not in b.schemas:
                        raise RenameError(f"rename schema {old} to {value}: no such schemas",
                                          key)
                    self.schema_renames[old] = value
            elif key.startswith("enum:"):
                enum_key, colon, label = key[len("enum:"):].partition(":")
                if not value:
                    continue
                if enum_key not in a.enums:
                    raise RenameError(f"rename {key}: no enum {enum_key}", key)
                if colon:
                    values = a.enums[enum_key].values
                    if label not in values or value in values:
                        raise RenameError(
                            f"rename {key} to {value!r}: enum {enum_key} must have the value "
                            f"{label!r} and not {value!r}", key
                        )
                    self.value_renames.setdefault(enum_key, {})[label] = value
                elif value != enum_key:
                    if value not in b.enums or value in a.enums:
                        raise RenameError(
                            f"rename {key} to {value}: {value} must be a new enum", key
                        )
                    self.enum_renames[enum_key] = value
            elif key in a.tables:
                if not value:
                    self.not_renames.add(key)
                elif value != key:
                    if value not in b.tables or value in a.tables:
                        raise RenameError(
                            f"rename table {key} to {value}: {value} must be a new table", key
                        )
                    self.table_map[key] = value
            else:
                columns.append((key, value))
        for key, value in columns:
            table, _, column = key.rpartition(".")
            owner = table if table in a.tables else next(
                (k for k, v in self.table_map.items() if v == table), None
            )
            if owner is None or a.tables[owner].column(column) is None:
                if value:
                    raise RenameError(f"rename {key}: no table or column {key} to rename", key)
                continue
            if not value:
                self.not_renames.add(f"{owner}.{column}")
            elif value != column:
                self.column_renames.setdefault(owner, {})[column] = value
                self.column_keys[(owner, column)] = key

    def _moved(self, key: str) -> str:
        schema, name = split_key(key)
        return qualified_key(self.schema_renames.get(schema, schema), name)

    def _map_tables(self) -> None:
        targets = set(self.table_map.values())
        if len(targets) != len(self.table_map):
            raise RenameError("rename tables: two tables get one name")
        for key in self.a.tables:
            if key in self.table_map:
                continue
            moved = self._moved(key)
            if moved in self.b.tables and moved not in targets:
                self.table_map[key] = moved
        for old, renames in self.column_renames.items():
            if old not in self.table_map:
                raise RenameError(f"rename columns of {old}: the table is dropped",
                                  self.column_keys[(old, next(iter(renames)))])
            new_table = self.b.tables[self.table_map[old]]
            if len(set(renames.values())) != len(renames):
                raise RenameError(f"rename columns of {old}: two columns get one name")
            for column, new in renames.items():
                key = self.column_keys[(old, column)]
                if new_table.column(new) is None:
                    raise RenameError(f"rename {old}.{column} to {new}: no column {new} in "
                                      f"{new_table.key}", key)
                if self.a.tables[old].column(new) is not None:
                    raise RenameError(
                        f"rename {old}.{column} to {new}: {old} already has a column {new} "
                        "(swap names through a temporary name, in two migrations)", key
                    )
        self.enum_map: dict[str, str] = {}
        enum_targets = set(self.enum_renames.values())
        for key in self.a.enums:
            new = self.enum_renames.get(key) or self._moved(key)
            if key in self.enum_renames or new not in enum_targets:
                self.enum_map[key] = new

    def _check_ambiguity(self) -> None:
        a, b = self.a, self.b
        candidates: list[tuple[str, str]] = []
        kept = set(self.table_map.values())
        added = [t for k, t in b.tables.items() if k not in kept]
        for key, old in a.tables.items():
            if key in self.table_map or key in self.not_renames:
                continue
            for new in added:
                if new.schema == split_key(self._moved(key))[0] and _alike(old, new):
                    candidates.append((key, new.key))
        for old_key, new_key in self.table_map.items():
            old, new = a.tables[old_key], b.tables[new_key]
            renames = self.column_renames.get(old_key, {})
            targets = set(renames.values())
            fresh = [c for c in new.columns if old.column(c.name) is None and c.name not in targets]
            for col in old.columns:
                if col.name in renames or new.column(col.name) is not None:
                    continue
                if f"{old_key}.{col.name}" in self.not_renames:
                    continue
                for other in fresh:
                    if _compatible(col.type, other.type):
                        candidates.append((f"{old_key}.{col.name}", other.name))
        if candidates:
            raise AmbiguousRename(candidates)

    # -- the renamed "before" model

    def _build_renamed(self) -> None:
        """``self.r``: schema ``a`` as it is once every rename has run."""
        a = self.a
        self.type_sql: dict[str, str] = {}  # old enum SQL name -> new
        self.type_keys: dict[str, str] = {}  # old enum key -> new SQL name
        enums: dict[str, Enum] = {}
        for key, enum in a.enums.items():
            new_key = self.enum_map.get(key, key)
            schema, name = split_key(new_key)
            labels = self.value_renames.get(key, {})
            renamed = Enum(schema, name, tuple(labels.get(v, v) for v in enum.values))
            enums[new_key] = renamed
            if renamed.sql_name != enum.sql_name:
                self.type_sql[enum.sql_name] = renamed.sql_name
                self.type_keys[key] = renamed.sql_name
        tables = {}
        for key, table in a.tables.items():
            if key in self.table_map:
                renamed_table = self._renamed_table(key, table)
                tables[renamed_table.key] = renamed_table
        schemas = {self.schema_renames.get(s, s) for s in a.schemas}
        self.r = Schema(frozenset(schemas), enums, tables)

    def _retype(self, type_: str) -> str:
        base = _base(type_)
        return self.type_sql.get(base, base) + _dims(type_)

    def _renamed_table(self, key: str, t: Table) -> Table:
        new_key = self.table_map[key]
        schema, name = split_key(new_key)
        cols = self.column_renames.get(key, {})
        types = self.type_keys

        def col(n: str) -> str:
            return cols.get(n, n)

        def names(ns: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(col(n) for n in ns)

        def expr(text: str | None) -> str | None:
            return rewrite_expr(text, cols, types)

        columns = []
        for c in t.columns:
            default = expr(c.default)
            if nextval_sequence(c.default) == serial_sequence(key, c.name):
                default = serial_default(new_key, col(c.name))
            columns.append(
                replace(c, name=col(c.name), type=self._retype(c.type), default=default,
                        generated=expr(c.generated))
            )
        fks = []
        for fk in t.foreign_keys:
            ref_cols = self.column_renames.get(fk.ref_table, {})
            fks.append(
                replace(
                    fk,
                    columns=names(fk.columns),
                    ref_table=self.table_map.get(fk.ref_table, fk.ref_table),
                    ref_columns=tuple(ref_cols.get(n, n) for n in fk.ref_columns),
                )
            )
        return Table(
            schema,
            name,
            tuple(columns),
            replace(t.primary_key, columns=names(t.primary_key.columns))
            if t.primary_key else None,
            tuple(fks),
            tuple(replace(u, columns=names(u.columns)) for u in t.uniques),
            tuple(replace(c, expression=expr(c.expression) or "") for c in t.checks),
            tuple(replace(x, definition=expr(x.definition) or "") for x in t.excludes),
            tuple(
                replace(
                    i,
                    columns=tuple(expr(x) or x for x in i.columns),
                    predicate=expr(i.predicate),
                    include=names(i.include),
                )
                for i in t.indexes
            ),
        )

    # -- the operations

    def run(self) -> list[Op]:
        a, b, r = self.a, self.b, self.r
        kept = {new: old for old, new in self.table_map.items()}  # B key -> A key
        ops: list[Op] = [CreateExtension(e) for e in sorted(b.extensions - a.extensions)]
        ops += [CreateSchema(s) for s in sorted(b.schemas - r.schemas - {"public"})]

        recreated_enums = {
            k for k, e in r.enums.items() if k in b.enums and not _appends(e, b.enums[k])
        }
        plans = {k: self._plan_table(r.tables[k], b.tables[k]) for k in kept}
        self._touch_foreign_keys(plans)

        # Drops, named as before the renames.
        for new_key, plan in plans.items():
            old = a.tables[kept[new_key]]
            ops += [DropConstraint(old.key, _named(old.foreign_keys, c.name))
                    for c in plan.fks.drops]
        dropped_tables = [t for k, t in a.tables.items() if k not in self.table_map]
        for t in dropped_tables:
            ops += [DropConstraint(t.key, fk) for fk in t.foreign_keys]
        for new_key, plan in plans.items():
            old = a.tables[kept[new_key]]
            ops += [DropIndex(old.key, _named(old.indexes, i.name)) for i in plan.indexes.drops]
        for t in dropped_tables:
            ops += [DropIndex(t.key, i) for i in t.indexes]
        for new_key, plan in plans.items():
            old = a.tables[kept[new_key]]
            ops += [DropConstraint(old.key, _named(old.constraints(), c.name))
                    for c in plan.constraints.drops]
        for new_key in plans:
            old = a.tables[kept[new_key]]
            renamed = self.column_renames.get(old.key, {})
            for c in old.columns:
                if c.name not in renamed and b.tables[new_key].column(c.name) is None:
                    ops.append(DropColumn(old.key, c))
        ops += [DropTable(t) for t in dropped_tables]

        # Renames.
        ops += [RenameSchema(old, new) for old, new in self.schema_renames.items()]
        for key, enum in a.enums.items():
            renamed_enum = r.enums[self.enum_map.get(key, key)]
            moved = replace(enum, schema=self.schema_renames.get(enum.schema, enum.schema))
            if moved.key != renamed_enum.key:
                ops.append(RenameEnum(moved, replace(renamed_enum, values=moved.values)))
            for old_label, new_label in self.value_renames.get(key, {}).items():
                if old_label != new_label:
                    ops.append(RenameEnumValue(renamed_enum, old_label, new_label))
        ops += self._rename_tables()
        for new_key, plan in plans.items():
            ops += [RenameConstraint(new_key, o, n) for o, n in plan.constraints.renames]
            ops += [RenameConstraint(new_key, o, n) for o, n in plan.fks.renames]
            ops += [RenameIndex(new_key, o, n) for o, n in plan.indexes.renames]

        # Enums, then the columns of enums that must be recreated.
        ops += [CreateEnum(e) for k, e in b.enums.items() if k not in r.enums]
        done: set[tuple[str, str]] = set()
        for key, enum in r.enums.items():
            target = b.enums.get(key)
            if target is None or target.values == enum.values or key in recreated_enums:
                continue
            current_uses = tuple(self._uses(enum, plans, set()))
            indexes, checks = self._dependents(current_uses, plans)
            current = enum
            for label in target.values:
                if label in current.values:
                    continue
                position = [v for v in target.values if v in current.values or v == label]
                grown = replace(current, values=tuple(position))
                ops.append(AddEnumValue(current, grown, label, current_uses, indexes, checks))
                current = grown
        defaults: dict[tuple[str, str], str | None] = {}
        for key in sorted(recreated_enums):
            enum, target = r.enums[key], b.enums[key]
            for new_key, plan in plans.items():
                for name in plan.altered:
                    old_col = r.tables[new_key].column(name)
                    new_col = b.tables[new_key].column(name)
                    assert old_col is not None and new_col is not None
                    if _base(old_col.type) == enum.sql_name and old_col.type != new_col.type:
                        ops += self._alter_column(new_key, old_col, new_col)
                        done.add((new_key, name))
            uses: list[EnumUse] = []
            for use in self._uses(enum, plans, done):
                after_col = b.tables[use.table].column(use.column)
                assert after_col is not None
                uses.append(replace(use, default_after=after_col.default))
                defaults[(use.table, use.column)] = after_col.default
            indexes, checks = self._dependents(uses, plans)
            ops.append(RecreateEnum(enum, target, tuple(uses), indexes, checks))

        # New tables, then columns of the others.
        created = [t for k, t in b.tables.items() if k not in kept]
        ops += [CreateTable(t) for t in created]
        for new_key, plan in plans.items():
            before_table, after_table = r.tables[new_key], b.tables[new_key]
            for col in after_table.columns:
                before = before_table.column(col.name)
                if before is None:
                    ops.append(AddColumn(new_key, col))
                elif (new_key, col.name) not in done and col.name in plan.altered:
                    if (new_key, col.name) in defaults:
                        before = replace(before, default=defaults[(new_key, col.name)])
                    ops += self._alter_column(new_key, before, col)

        # Constraints, foreign keys, indexes.
        for new_key, plan in plans.items():
            ops += [AddConstraint(new_key, c) for c in plan.constraints.adds]
        for new_key, plan in plans.items():
            ops += [AddConstraint(new_key, c) for c in plan.fks.adds]
        for t in created:
            ops += [AddConstraint(t.key, fk) for fk in t.foreign_keys]
        for new_key, plan in plans.items():
            ops += [CreateIndex(new_key, i) for i in plan.indexes.adds]
        for t in created:
            ops += [CreateIndex(t.key, i) for i in t.indexes]

        ops += [DropEnum(e) for k, e in r.enums.items() if k not in b.enums]
        # Only extensions declared dropped, once nothing of the new schema uses them.
        ops += [DropExtension(e) for e in sorted(
            (a.extensions & b.drop_extensions) - b.extensions
        )]
        ops += [DropSchema(s) for s in sorted(r.schemas - b.schemas - {"public"})]
        return ops

    def _rename_tables(self) -> list[Op]:
        ops: list[Op] = []
        for old_key, new_key in self.table_map.items():
            old = self.a.tables[old_key]
            old_name, new_name = old.name, split_key(new_key)[1]
            moved = self._moved(old_key)  # where a schema rename took it
            if moved != new_key:
                sequences = tuple(
                    (make_object_name(old_name, c.name, "seq"),
                     make_object_name(new_name, c.name, "seq"))
                    for c in old.columns
                    if nextval_sequence(c.default) == serial_sequence(old_key, c.name)
                    and old_name != new_name
                )
                ops.append(RenameTable(moved, new_key, sequences))
            for column, new in self.column_renames.get(old_key, {}).items():
                col = old.column(column)
                assert col is not None
                sequence = None
                if nextval_sequence(col.default) == serial_sequence(old_key, column):
                    sequence = (make_object_name(new_name, column, "seq"),
                                make_object_name(new_name, new, "seq"))
                ops.append(RenameColumn(new_key, column, new, sequence))
        return ops

    def _uses(
        self, enum: Enum, plans: Mapping[str, _TablePlan], done: set[tuple[str, str]]
    ) -> Iterable[EnumUse]:
        """The columns of ``enum`` (or arrays of it) once drops and renames
        ran, and the columns in ``done`` took their new type."""
        for new_key in plans:
            after = self.b.tables[new_key]
            for col in self.r.tables[new_key].columns:
                target = after.column(col.name)
                if target is None:
                    continue
                now = target if (new_key, col.name) in done else col
                if _base(now.type) == enum.sql_name:
                    yield EnumUse(new_key, col.name, now.type, now.default, now.default)

    # -- one table

    def _plan_table(self, r: Table, b: Table) -> _TablePlan:
        plan = _TablePlan()
        retyped: set[str] = set()
        for col in b.columns:
            before = r.column(col.name)
            if before is None:
                continue
            if before != col:
                plan.altered.append(col.name)
            if _needs_recreate(before, col):
                plan.recreated.add(col.name)
            elif before.type != col.type:
                retyped.add(col.name)
        recreate = plan.recreated
        # Expressions over a column whose type changes may not survive the
        # change (a comparison with an enum label): they go and come back.
        touched_cols = recreate | retyped

        def mentions(texts: Iterable[str | None]) -> bool:
            return any(identifiers_in(t) & touched_cols for t in texts)

        touched = {
            c.name for c in r.constraints() if not isinstance(c, ForeignKey)
            and (set(getattr(c, "columns", ())) & recreate
                 or mentions([getattr(c, "expression", None), getattr(c, "definition", None)]))
        }
        touched_idx = {
            i.name for i in r.indexes
            if mentions(_expressions(i))
            or set(identifiers_in(", ".join(i.columns))) & recreate
            or set(i.include) & recreate
        }
        plan.constraints = _match(
            [c for c in r.constraints() if not isinstance(c, ForeignKey)],
            [c for c in b.constraints() if not isinstance(c, ForeignKey)],
            touched,
        )
        plan.indexes = _match(r.indexes, b.indexes, touched_idx)
        plan.fk_pairs = (r.foreign_keys, b.foreign_keys)
        plan.fk_touched = {fk.name for fk in r.foreign_keys if set(fk.columns) & recreate}
        return plan

    def _dependents(
        self, uses: Sequence[EnumUse], plans: Mapping[str, _TablePlan]
    ) -> tuple[tuple[tuple[str, Index], ...], tuple[tuple[str, Check], ...]]:
        """The indexes and checks (as named once renames ran, and not dropped
        by then) whose expressions mention the columns of ``uses``."""
        indexes: list[tuple[str, Index]] = []
        checks: list[tuple[str, Check]] = []
        for key, plan in plans.items():
            cols = {u.column for u in uses if u.table == key}
            if not cols:
                continue
            table = self.r.tables[key]
            dropped = {c.name for c in (*plan.indexes.drops, *plan.constraints.drops)}
            renamed = dict(plan.indexes.renames) | dict(plan.constraints.renames)
            for i in table.indexes:
                if i.name not in dropped and any(identifiers_in(t) & cols for t in _expressions(i)):
                    indexes.append((key, replace(i, name=renamed.get(i.name, i.name))))
            for c in table.checks:
                if c.name not in dropped and identifiers_in(c.expression) & cols:
                    checks.append((key, replace(c, name=renamed.get(c.name, c.name))))
        return tuple(indexes), tuple(checks)

    def _touch_foreign_keys(self, plans: dict[str, _TablePlan]) -> None:
        """Foreign keys must go (and come back) when a key they reference is
        dropped or changed, or a column they use or reference is recreated."""
        gone: dict[str, list[set[str]]] = {}
        for key, plan in plans.items():
            keys = gone.setdefault(key, [])
            keys += [set(c.columns) for c in plan.constraints.drops
                     if isinstance(c, PrimaryKey | Unique)]
            keys += [identifiers_in(", ".join(i.columns)) for i in plan.indexes.drops if i.unique]
        for plan in plans.values():
            old, new = plan.fk_pairs
            touched = set(plan.fk_touched)
            for fk in old:
                refs = set(fk.ref_columns)
                ref_plan = plans.get(fk.ref_table)
                if refs in gone.get(fk.ref_table, []) or (
                    ref_plan is not None and refs & ref_plan.recreated
                ):
                    touched.add(fk.name)
            plan.fks = _match(old, new, touched)

    # -- one column

    def _alter_column(self, key: str, before: Column, after: Column) -> list[Op]:
        """Every change of one column, in an order PostgreSQL accepts."""
        if _needs_recreate(before, after):
            return [RecreateColumn(key, before, after)]
        ops: list[Op] = []
        if before.generated is not None and after.generated is None:
            ops.append(DropExpression(key, before, replace(before, generated=None)))
        type_changes = before.type != after.type
        drop_default = before.default is not None and (after.default is None or type_changes)
        if drop_default:
            ops.append(SetDefault(key, before.name, before.default, None))
        if before.identity is not None and after.identity is None:
            ops.append(SetIdentity(key, before.name, before.identity, None,
                                   (before.identity_start, before.identity_increment)))
        if type_changes:
            enums = {e.sql_name for e in (*self.r.enums.values(), *self.b.enums.values())}
            via_text = _base(before.type) in enums or _base(after.type) in enums
            ops.append(AlterColumnType(key, before.name, before.type, after.type, via_text,
                                       after.generated is None))
        if before.not_null != after.not_null:
            ops.append(SetNotNull(key, before.name, after.not_null))
        if after.default is not None and (
            drop_default or before.default is None or before.default_key != after.default_key
        ):
            current = None if drop_default else before.default
            ops.append(SetDefault(key, before.name, current, after.default))
        options = (before.identity_start, before.identity_increment)
        new_options = (after.identity_start, after.identity_increment)
        if after.identity is not None and (
            after.identity != before.identity or options != new_options
        ):
            ops.append(SetIdentity(key, before.name, before.identity, after.identity,
                                   options if before.identity else (None, None), new_options))
        if (
            before.generated is not None
            and after.generated is not None
            and before.generated_key != after.generated_key
        ):
            ops.append(SetExpression(key, before.name, before.generated, after.generated))
        return ops


@dataclass
class _TablePlan:
    altered: list[str] = field(default_factory=list)
    recreated: set[str] = field(default_factory=set)
    constraints: _Match = field(default_factory=_Match)
    indexes: _Match = field(default_factory=_Match)
    fks: _Match = field(default_factory=_Match)
    fk_pairs: tuple[Sequence[ForeignKey], Sequence[ForeignKey]] = ((), ())
    fk_touched: set[str] = field(default_factory=set)


def _named(items: Iterable[C], name: str) -> C:
    return next(i for i in items if i.name == name)


def _bare(item: str) -> bool:
    """An index item that is a plain column (with options), no expression."""
    try:
        tokens = tokenize(item)
    except Unparsable:
        return False
    return bool(tokens) and all(t.kind in ("id", "qid") for t in tokens)


def _expressions(index: Index) -> list[str | None]:
    """The expressions of an index: its items that are not plain columns,
    and its predicate."""
    return [*(x for x in index.columns if not _bare(x)), index.predicate]


def _needs_recreate(before: Column, after: Column) -> bool:
    """Making a column generated, changing between stored and virtual, or
    making a virtual column plain takes dropping and adding it."""
    if after.generated is None:
        return before.generated is not None and before.virtual
    return before.generated is None or before.virtual != after.virtual


def _appends(old: Enum, new: Enum) -> bool:
    """Whether ``new`` keeps ``old``'s values in order (only additions)."""
    it = iter(new.values)
    return all(v in it for v in old.values)


def _alike(old: Table, new: Table) -> bool:
    """Two tables that could be one renamed: a column in common, or none at all."""
    if not old.columns and not new.columns:
        return True
    return bool({(c.name, c.type) for c in old.columns} & {(c.name, c.type) for c in new.columns})


def _compatible(old: str, new: str) -> bool:
    """Column types close enough for a rename to be likely."""
    return old.split("(")[0] == new.split("(")[0] and _dims(old) == _dims(new)

