"""DDL for declared tables: ``CREATE TYPE``, ``CREATE TABLE``, foreign keys
and ``CREATE INDEX``, as psycopg composables.

Constraint names follow PostgreSQL's own defaults (``users_pkey``,
``users_email_key``, ``sessions_user_id_fkey``, ``users_age_check``), so a
table created here introspects the same as one created by hand.

>>> for statement in create_all([Users, Sessions]):
...     print(sql_text(statement))

The statements are escaped like every pgbuild statement (``%`` doubled): run
them with a parameter list (``conn.execute(stmt, ())``, as ``db.create_tables``
does), or turn them into plain text with :func:`pgbuild.render.sql_text`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import sql as pg

from pgbuild.columns import FK_ACTIONS, MISSING, Column, FkAction, PgEnum
from pgbuild.compiler import table_ref
from pgbuild.errors import SchemaError
from pgbuild.expressions import Compiled, Expr, OpClass, OrderBy, Raw
from pgbuild.naming import NameChooser
from pgbuild.raw import sql
from pgbuild.render import Ctx, Literal, ident
from pgbuild.table import Check, Extension, ForeignKey, Index, PrimaryKey, Table, Unique

COMMA = pg.SQL(", ")


def _ddl_ctx() -> Ctx:
    return Ctx(qualify=False, inline=True)


def _names(columns: Iterable[Column[Any]]) -> pg.Composable:
    return COMMA.join(ident(c.db_name) for c in columns)


def _table_name(table: type[Table]) -> pg.Composable:
    meta = table.__table__
    return ident(meta.schema, meta.name) if meta.schema else ident(meta.name)


def enums_of(tables: Iterable[type[Table]]) -> list[PgEnum[Any]]:
    """The enum types the tables use, each once, in first-use order."""
    seen: dict[str, PgEnum[Any]] = {}
    for table in tables:
        for col in table.__table__.columns:
            if col.enum_type is not None:
                seen.setdefault(col.enum_type.qualified_name(), col.enum_type)
    return list(seen.values())


def create_enum(enum: PgEnum[Any]) -> pg.Composed:
    """``CREATE TYPE "name" AS ENUM ('a', 'b')``."""
    labels = COMMA.join(Literal(v) for v in enum.values)
    return pg.SQL("CREATE TYPE {} AS ENUM ({})").format(enum.type_sql(), labels)


def _column_def(table: type[Table], col: Column[Any]) -> pg.Composable:
    if col.serial:
        type_sql: pg.Composable = pg.SQL("bigserial" if col.sql_type == "bigint" else "serial")
    else:
        type_sql = col.type_sql()
    parts: list[pg.Composable] = [ident(col.db_name), pg.SQL(" "), type_sql]
    if col.identity is not None:
        kind = "ALWAYS" if col.identity == "always" else "BY DEFAULT"
        parts.append(pg.SQL(f" GENERATED {kind} AS IDENTITY"))
        options = []
        if col.identity_start is not None:
            options.append(f"START WITH {int(col.identity_start)}")
        if col.identity_increment is not None:
            options.append(f"INCREMENT BY {int(col.identity_increment)}")
        if options:
            parts.append(pg.SQL(" (" + " ".join(options) + ")"))
    if col.generated is not None:
        generated = col.generated._render(_ddl_ctx())
        parts += [pg.SQL(" GENERATED ALWAYS AS ("), generated, pg.SQL(") STORED")]
    if not col.nullable:
        parts.append(pg.SQL(" NOT NULL"))
    if col.default_expr is not None:
        parts += [pg.SQL(" DEFAULT "), col.default_expr._render(_ddl_ctx())]
    elif col.default_value is not MISSING:
        parts += [pg.SQL(" DEFAULT "), Literal(col.dump(col.default_value))]
    return pg.Composed(parts)


@dataclass(frozen=True, slots=True)
class Constraint:
    """A table constraint with its final name: ``kind`` is ``"p"`` (primary
    key), ``"u"`` (unique), ``"c"`` (check) or ``"f"`` (foreign key), as in
    ``pg_constraint.contype``."""

    kind: str
    name: str
    columns: tuple[Column[Any], ...] = ()
    check: Expr[bool] | None = None
    references: tuple[Column[Any], ...] = ()
    on_delete: FkAction | None = None
    on_update: FkAction | None = None
    nulls_distinct: bool = True


def constraints(table: type[Table]) -> list[Constraint]:
    """Every constraint of ``table``, named as PostgreSQL would name it."""
    meta = table.__table__
    explicit_names = [e.name for e in meta.extras if getattr(e, "name", None)]
    names = NameChooser(meta.name, [n for n in explicit_names if n])
    out: list[Constraint] = []
    pk = meta.primary_key
    if pk:
        explicit = next((e.name for e in meta.extras if isinstance(e, PrimaryKey)), None)
        out.append(Constraint("p", explicit or names.choose([], "pkey"), pk))
    for col in meta.columns:
        if col.is_unique:
            out.append(Constraint("u", names.choose([col.db_name], "key"), (col,)))
        for condition in col.checks:
            expr = condition(col) if callable(condition) else condition
            out.append(Constraint("c", names.choose([col.db_name], "check"), (col,), expr))
    for extra in meta.extras:
        if isinstance(extra, Unique):
            cols = extra.columns
            name = extra.name or names.choose([c.db_name for c in cols], "key")
            out.append(Constraint("u", name, cols, nulls_distinct=extra.nulls_distinct))
        elif isinstance(extra, Check):
            out.append(Constraint("c", extra.name, (), extra.condition))
    for col in meta.columns:
        if col.fk is not None:
            name = names.choose([col.db_name], "fkey")
            fk = col.fk
            target = (fk.target(),)
            out.append(Constraint("f", name, (col,), None, target, fk.on_delete, fk.on_update))
    for extra in meta.extras:
        if isinstance(extra, ForeignKey):
            cols = extra.columns
            name = extra.name or names.choose([c.db_name for c in cols], "fkey")
            refs = tuple(extra.target())
            out.append(Constraint("f", name, cols, None, refs, extra.on_delete, extra.on_update))
    return out


def _constraint_sql(c: Constraint) -> pg.Composable:
    name = ident(c.name)
    if c.kind == "p":
        return pg.SQL("CONSTRAINT {} PRIMARY KEY ({})").format(name, _names(c.columns))
    if c.kind == "u":
        nulls = "" if c.nulls_distinct else " NULLS NOT DISTINCT"
        return pg.SQL("CONSTRAINT {} UNIQUE" + nulls + " ({})").format(name, _names(c.columns))
    assert c.check is not None
    return pg.SQL("CONSTRAINT {} CHECK ({})").format(name, c.check._render(_ddl_ctx()))


def create_table(table: type[Table]) -> pg.Composed:
    """``CREATE TABLE`` with columns, primary key, unique and check
    constraints; foreign keys come from :func:`create_foreign_keys`."""
    inline = [_constraint_sql(c) for c in constraints(table) if c.kind != "f"]
    body = [_column_def(table, c) for c in table.__table__.columns] + inline
    return pg.SQL("CREATE TABLE {} ({})").format(_table_name(table), COMMA.join(body))


def create_foreign_keys(table: type[Table]) -> list[pg.Composed]:
    """``ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY`` for each reference."""
    out = []
    for c in constraints(table):
        if c.kind != "f":
            continue
        if len(c.columns) != len(c.references):
            raise SchemaError(
                f"foreign key {c.name}: {len(c.columns)} columns reference {len(c.references)}"
            )
        owners = {t.table for t in c.references}
        if len(owners) != 1 or None in owners:
            raise SchemaError(f"foreign key {c.name}: referenced columns must be of one table")
        (owner,) = owners
        assert owner is not None
        clause: list[pg.Composable] = [
            pg.SQL("ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})").format(
                _table_name(table),
                ident(c.name),
                _names(c.columns),
                _table_name(owner),
                _names(c.references),
            )
        ]
        if c.on_delete:
            clause += [pg.SQL(" ON DELETE "), FK_ACTIONS[c.on_delete]]
        if c.on_update:
            clause += [pg.SQL(" ON UPDATE "), FK_ACTIONS[c.on_update]]
        out.append(pg.Composed(clause))
    return out


def create_index(table: type[Table], index: Index) -> pg.Composed:
    """``CREATE [UNIQUE] INDEX name ON table [USING method] (...) [WHERE ...]``."""
    ctx = _ddl_ctx()
    items = [_index_item(e, ctx) for e in index.columns]
    parts: list[pg.Composable] = [
        pg.SQL("CREATE UNIQUE INDEX " if index.unique else "CREATE INDEX "),
        ident(index.name),
        pg.SQL(" ON "),
        table_ref(table),
    ]
    if index.method:
        parts.append(pg.SQL(" USING {}").format(pg.SQL(index.method)))
    parts.append(pg.SQL(" ({})").format(COMMA.join(items)))
    if not index.nulls_distinct:
        parts.append(pg.SQL(" NULLS NOT DISTINCT"))
    if index.predicate is not None:
        parts += [pg.SQL(" WHERE "), index.predicate._render(ctx)]
    return pg.Composed(parts)


def _index_item(item: Expr[Any], ctx: Ctx) -> pg.Composable:
    """A column bare, an expression in parentheses, with its operator class
    and ordering (``"created_at" DESC NULLS LAST``) after it."""
    if isinstance(item, OrderBy):
        order = " DESC" if item.descending else " ASC"
        nulls = {"first": " NULLS FIRST", "last": " NULLS LAST", None: ""}[item.nulls]
        return pg.Composed([_index_item(item.item, ctx), pg.SQL(order + nulls)])
    if isinstance(item, OpClass):
        return pg.Composed([_index_item(item.item, ctx), pg.SQL(" " + item.opclass)])
    if isinstance(item, Column):
        return ident(item.db_name)
    return pg.Composed([pg.SQL("("), item._render(ctx), pg.SQL(")")])


def create_indexes(table: type[Table]) -> list[pg.Composed]:
    """``CREATE INDEX`` for every index the table declares."""
    return [create_index(table, e) for e in table.__table__.extras if isinstance(e, Index)]


def extensions_of(
    tables: Iterable[type[Table]], declared: Iterable[Extension] = ()
) -> list[str]:
    """The extensions declared, then those the tables' column types need."""
    names = [e.name for e in declared]
    names += [c.extension for t in tables for c in t.__table__.columns if c.extension]
    return list(dict.fromkeys(names))


def create_all(
    tables: Sequence[type[Table]],
    *,
    existing_types: Iterable[str] = (),
    extensions: Iterable[Extension] = (),
) -> list[pg.Composed]:
    """Every statement to create ``tables`` from nothing, in dependency order:
    extensions, schemas, enums (except ``existing_types``, quoted names),
    tables, foreign keys, indexes."""
    skip = set(existing_types)
    out: list[pg.Composed] = [
        pg.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(ident(name))
        for name in extensions_of(tables, extensions)
    ]
    schemas = {t.__table__.schema for t in tables} | {
        e.schema for e in enums_of(tables)
    }
    for schema in sorted(s for s in schemas if s):
        out.append(pg.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident(schema)))
    out += [create_enum(e) for e in enums_of(tables) if e.type_sql().as_string() not in skip]
    out += [create_table(t) for t in tables]
    for t in tables:
        out += create_foreign_keys(t)
    for t in tables:
        out += create_indexes(t)
    return out


def drop_all(tables: Sequence[type[Table]]) -> list[pg.Composed]:
    """``DROP TABLE IF EXISTS ... CASCADE`` and ``DROP TYPE IF EXISTS`` for the
    tables' enums."""
    out = [
        pg.SQL("DROP TABLE IF EXISTS {} CASCADE").format(_table_name(t)) for t in reversed(tables)
    ]
    out += [pg.SQL("DROP TYPE IF EXISTS {}").format(e.type_sql()) for e in enums_of(tables)]
    return out



def _qualified(schema: str | None, name: str) -> str:
    # A value for to_regclass/to_regtype, not statement text: no % escaping.
    return (pg.Identifier(schema, name) if schema else pg.Identifier(name)).as_string(None)


def existing(tables: Sequence[type[Table]]) -> Raw[Any]:
    """A query whose one row holds which of ``tables`` and of their enum
    types already exist (two arrays of quoted names)."""
    names = [_qualified(t.__table__.schema, t.__table__.name) for t in tables]
    types = [_qualified(e.schema, e.name) for e in enums_of(tables)]
    return sql(
        "SELECT array(SELECT n FROM unnest({names}::text[]) AS n WHERE to_regclass(n) IS NOT NULL),"
        " array(SELECT n FROM unnest({types}::text[]) AS n WHERE to_regtype(n) IS NOT NULL)",
        names=names,
        types=types,
    )


def create_plan(
    tables: Sequence[type[Table]], found: Sequence[Any], *, if_not_exists: bool
) -> list[Compiled]:
    """The statements ``create_tables`` runs, given the row of :func:`existing`."""
    existing_tables, existing_types = set(found[0]), set(found[1])
    if if_not_exists:
        tables = [
            t
            for t in tables
            if _qualified(t.__table__.schema, t.__table__.name) not in existing_tables
        ]
    skip = {e.type_sql().as_string() for e in enums_of(tables)
            if _qualified(e.schema, e.name) in existing_types}
    return [Compiled(s, ()) for s in create_all(tables, existing_types=skip)]


def drop_plan(tables: Sequence[type[Table]]) -> list[Compiled]:
    """The statements ``drop_tables`` runs."""
    return [Compiled(s, ()) for s in drop_all(tables)]
