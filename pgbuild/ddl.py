"""DDL for declared tables: ``CREATE TYPE``, ``CREATE TABLE``, foreign keys
and ``CREATE INDEX``, as psycopg composables.

Constraint names follow PostgreSQL's own defaults (``users_pkey``,
``users_email_key``, ``sessions_user_id_fkey``, ``users_age_check``), so a
table created here introspects the same as one created by hand.

>>> for statement in create_all([Users, Sessions]):
...     print(statement.as_string())
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import sql as pg

from pgbuild.columns import Column, PgEnum
from pgbuild.compiler import table_ref
from pgbuild.errors import SchemaError
from pgbuild.render import Ctx, ident
from pgbuild.table import Check, ForeignKey, Index, PrimaryKey, Table, Unique

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
    labels = COMMA.join(pg.Literal(v) for v in enum.values)
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
    if not col.nullable:
        parts.append(pg.SQL(" NOT NULL"))
    if col.default_expr is not None:
        parts += [pg.SQL(" DEFAULT "), col.default_expr._render(_ddl_ctx())]
    elif col.has_default and not col.serial and col.identity is None:
        value = pg.Literal(col.dump(col.default_value))
        parts += [pg.SQL(" DEFAULT "), value]
    return pg.Composed(parts)


def _constraints(table: type[Table]) -> list[pg.Composable]:
    meta = table.__table__
    name = meta.name
    out: list[pg.Composable] = []
    pk = meta.primary_key
    if pk:
        explicit = next((e.name for e in meta.extras if isinstance(e, PrimaryKey)), None)
        out.append(
            pg.SQL("CONSTRAINT {} PRIMARY KEY ({})").format(
                ident(explicit or f"{name}_pkey"), _names(pk)
            )
        )
    for col in meta.columns:
        if col.is_unique:
            out.append(
                pg.SQL("CONSTRAINT {} UNIQUE ({})").format(
                    ident(f"{name}_{col.db_name}_key"), ident(col.db_name)
                )
            )
        for condition in col.checks:
            expr = condition(col) if callable(condition) else condition
            out.append(
                pg.SQL("CONSTRAINT {} CHECK ({})").format(
                    ident(f"{name}_{col.db_name}_check"), expr._render(_ddl_ctx())
                )
            )
    for extra in meta.extras:
        if isinstance(extra, Unique):
            cname = extra.name or f"{name}_{'_'.join(c.db_name for c in extra.columns)}_key"
            out.append(
                pg.SQL("CONSTRAINT {} UNIQUE ({})").format(ident(cname), _names(extra.columns))
            )
        elif isinstance(extra, Check):
            out.append(
                pg.SQL("CONSTRAINT {} CHECK ({})").format(
                    ident(extra.name), extra.condition._render(_ddl_ctx())
                )
            )
    return out


def create_table(table: type[Table]) -> pg.Composed:
    """``CREATE TABLE`` with columns, primary key, unique and check
    constraints; foreign keys come from :func:`create_foreign_keys`."""
    body = [_column_def(table, c) for c in table.__table__.columns] + _constraints(table)
    return pg.SQL("CREATE TABLE {} ({})").format(_table_name(table), COMMA.join(body))


_FkSpec = tuple[str, Sequence[Column[Any]], Sequence[Column[Any]], Any, Any]


def _fk_targets(table: type[Table]) -> list[_FkSpec]:
    meta = table.__table__
    out: list[_FkSpec] = []
    for col in meta.columns:
        if col.fk is not None:
            target = col.fk.target()
            name = f"{meta.name}_{col.db_name}_fkey"
            out.append((name, [col], [target], col.fk.on_delete, col.fk.on_update))
    for extra in meta.extras:
        if isinstance(extra, ForeignKey):
            targets = list(extra.target())
            name = extra.name or f"{meta.name}_{'_'.join(c.db_name for c in extra.columns)}_fkey"
            out.append((name, extra.columns, targets, extra.on_delete, extra.on_update))
    return out


def create_foreign_keys(table: type[Table]) -> list[pg.Composed]:
    """``ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY`` for each reference."""
    out = []
    for name, cols, targets, on_delete, on_update in _fk_targets(table):
        if len(cols) != len(targets):
            raise SchemaError(f"foreign key {name}: {len(cols)} columns reference {len(targets)}")
        owners = {t.table for t in targets}
        if len(owners) != 1 or None in owners:
            raise SchemaError(f"foreign key {name}: referenced columns must be of one table")
        (owner,) = owners
        assert owner is not None
        clause: list[pg.Composable] = [
            pg.SQL("ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})").format(
                _table_name(table), ident(name), _names(cols), _table_name(owner), _names(targets)
            )
        ]
        if on_delete:
            clause.append(pg.SQL(" ON DELETE " + on_delete.upper()))
        if on_update:
            clause.append(pg.SQL(" ON UPDATE " + on_update.upper()))
        out.append(pg.Composed(clause))
    return out


def create_index(table: type[Table], index: Index) -> pg.Composed:
    """``CREATE [UNIQUE] INDEX name ON table [USING method] (...) [WHERE ...]``."""
    ctx = _ddl_ctx()
    items = [
        ident(e.db_name) if isinstance(e, Column) else pg.SQL("({})").format(e._render(ctx))
        for e in index.columns
    ]
    parts: list[pg.Composable] = [
        pg.SQL("CREATE UNIQUE INDEX " if index.unique else "CREATE INDEX "),
        ident(index.name),
        pg.SQL(" ON "),
        table_ref(table),
    ]
    if index.method:
        parts.append(pg.SQL(" USING {}").format(pg.SQL(index.method)))
    parts.append(pg.SQL(" ({})").format(COMMA.join(items)))
    if index.predicate is not None:
        parts += [pg.SQL(" WHERE "), index.predicate._render(ctx)]
    return pg.Composed(parts)


def create_indexes(table: type[Table]) -> list[pg.Composed]:
    """``CREATE INDEX`` for every index the table declares."""
    return [create_index(table, e) for e in table.__table__.extras if isinstance(e, Index)]


def create_all(
    tables: Sequence[type[Table]], *, existing_types: Iterable[str] = ()
) -> list[pg.Composed]:
    """Every statement to create ``tables`` from nothing, in dependency order:
    schemas, enums (except ``existing_types``, quoted names), tables, foreign
    keys, indexes."""
    skip = set(existing_types)
    out: list[pg.Composed] = []
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

