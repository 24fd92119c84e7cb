"""The schema model of declared :class:`~pgbuild.Table` classes.

::

    import schema
    declared = from_tables(find_tables(schema), find_extensions(schema))

The model is what the server reports for a database made with
``db.create_tables(...)`` of the same tables: constraint names come from
:func:`pgbuild.ddl.constraints` (PostgreSQL's own naming), types are spelled
as ``format_type`` spells them, a ``serial`` column is an integer with its
sequence's ``nextval`` default, an identity column has no default.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pgbuild import ddl
from pgbuild.columns import MISSING
from pgbuild.columns import Column as DeclaredColumn
from pgbuild.errors import SchemaError
from pgbuild.expressions import Expr, OpClass, OrderBy
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
    quote_ident,
    quote_literal,
    sql_name,
)
from pgbuild.migrate.sqlparse import Parser, Unparsable, tokenize
from pgbuild.naming import make_object_name
from pgbuild.render import Ctx, Literal, sql_text
from pgbuild.table import Extension, check_identifier
from pgbuild.table import Index as DeclaredIndex
from pgbuild.table import Table as DeclaredTable


@dataclass(frozen=True)
class DroppedExtension:
    """An extension declared dropped: see :func:`drop_extension`."""

    name: str


def drop_extension(name: str) -> DroppedExtension:
    """Declare, in the schema module, that an extension must go:
    ``drop_extension("ltree")``. Migrations and push drop it where it
    exists (after whatever used it); an extension that is merely no longer
    declared is never dropped, since other things may use it."""
    return DroppedExtension(check_identifier(name, "extension"))


def from_tables(
    tables: Iterable[type[DeclaredTable]],
    extensions: Iterable[Extension | DroppedExtension | str] = (),
) -> Schema:
    """The model of ``tables`` (aliases made with ``alias()`` are skipped),
    with the ``extensions`` declared (``extension("citext")``) and those
    their column types need, and those declared dropped
    (``drop_extension("ltree")``).

    >>> from_tables([Users, Sessions]).tables["claude_code_users"].primary_key
    PrimaryKey(name='claude_code_users_pkey', columns=('id',), ...)
    """
    declared = [t for t in tables if t.__row_class__ is t]
    wanted = list(extensions)
    dropped = {e.name for e in wanted if isinstance(e, DroppedExtension)}
    named = [
        e if isinstance(e, Extension) else Extension(e)
        for e in wanted if not isinstance(e, DroppedExtension)
    ]
    _check_dropped(declared, named, dropped)
    schemas = {"public"}
    enums: dict[str, Enum] = {}
    for e in ddl.enums_of(declared):
        enum = Enum(e.schema or "public", e.name, tuple(e.values))
        enums[enum.key] = enum
        schemas.add(enum.schema)
    out: dict[str, Table] = {}
    for t in declared:
        table = _table(t)
        schemas.add(table.schema)
        out[table.key] = table
    return Schema(
        frozenset(schemas), enums, out, frozenset(ddl.extensions_of(declared, named)),
        frozenset(dropped),
    )


def _check_dropped(
    tables: list[type[DeclaredTable]], named: list[Extension], dropped: set[str]
) -> None:
    for e in named:
        if e.name in dropped:
            raise SchemaError(f"extension {e.name!r} is declared with extension() and "
                              "drop_extension() at once; keep one")
    for t in tables:
        for c in t.__table__.columns:
            if c.extension in dropped:
                raise SchemaError(
                    f"extension {c.extension!r} is declared dropped (drop_extension), but "
                    f"column {t.__table__.name}.{c.db_name} needs it"
                )


def find_tables(module: ModuleType | str) -> list[type[DeclaredTable]]:
    """Every Table class defined in ``module`` or, for a package, in any of
    its submodules (imported here), in the order they are found; aliases
    are left out."""
    modules = _modules(module)
    root = modules[0]
    prefix = root.__name__ + "."
    found: dict[int, type[DeclaredTable]] = {}
    for mod in modules:
        for value in vars(mod).values():
            if (
                isinstance(value, type)
                and issubclass(value, DeclaredTable)
                and value is not DeclaredTable
                and value.__dict__.get("__table__") is not None
                and value.__row_class__ is value
                and (value.__module__ == root.__name__ or value.__module__.startswith(prefix))
            ):
                found.setdefault(id(value), value)
    return list(found.values())


def find_extensions(module: ModuleType | str) -> list[Extension | DroppedExtension]:
    """Every ``extension(...)`` and ``drop_extension(...)`` declared in
    ``module`` or its submodules (which :func:`find_tables` imports)."""
    found: dict[tuple[str, bool], Extension | DroppedExtension] = {}
    for mod in _modules(module):
        for value in vars(mod).values():
            if isinstance(value, Extension | DroppedExtension):
                found.setdefault((value.name, isinstance(value, DroppedExtension)), value)
    return list(found.values())


def _modules(module: ModuleType | str) -> list[ModuleType]:
    root = importlib.import_module(module) if isinstance(module, str) else module
    modules = [root]
    path = getattr(root, "__path__", None)
    if path is not None:
        for info in pkgutil.walk_packages(path, root.__name__ + "."):
            modules.append(importlib.import_module(info.name))
    return modules


# ------------------------------------------------------------------ pieces


def _ddl_ctx() -> Ctx:
    return Ctx(qualify=False, inline=True)


def _sql(expr: Expr[Any]) -> str:
    return sql_text(expr._render(_ddl_ctx())).strip()


def normal_type(sql_type: str) -> str:
    """A declared SQL type as ``format_type`` prints it: ``numeric(12)`` →
    ``numeric(12,0)``, ``varchar(3)`` → ``character varying(3)``."""
    try:
        parser = Parser(tokenize(sql_type))
        name = parser.type_name()
        if not parser.at_end():
            return sql_type
    except (Unparsable, IndexError):
        return sql_type
    if name.startswith("numeric(") and "," not in name:
        name = name.replace(")", ",0)", 1)
    if "." in name.split("(")[0] and '"' not in sql_type:
        schema, _, rest = name.partition(".")
        base, paren, mods = rest.partition("(")
        name = sql_name(schema, base) + paren + mods
    return name


def _column_type(col: DeclaredColumn[Any]) -> str:
    if col.enum_type is not None:
        base = sql_name(col.enum_type.schema or "public", col.enum_type.name)
    else:
        base = normal_type(col.sql_type)
    return base + ("[]" if col.dims else "")


def _default(table: type[DeclaredTable], col: DeclaredColumn[Any], type_: str) -> str | None:
    meta = table.__table__
    if col.identity is not None:
        return None
    if col.serial:
        sequence = make_object_name(meta.name, col.db_name, "seq")
        regclass = sql_name(meta.schema or "public", sequence)
        return f"nextval({quote_literal(regclass)}::regclass)"
    if col.default_expr is not None:
        return _sql(col.default_expr)
    if col.default_value is MISSING:
        return None
    text = sql_text(Literal(col.dump(col.default_value))).strip()
    if text.endswith("'"):
        # A bare string literal takes the column's type, as in the catalog.
        text += "::" + type_
    return text


def _index_item(expr: Expr[Any]) -> str:
    """An index item as :func:`pgbuild.ddl.create_index` writes it."""
    if isinstance(expr, OrderBy):
        order = " DESC" if expr.descending else " ASC"
        nulls = {"first": " NULLS FIRST", "last": " NULLS LAST", None: ""}[expr.nulls]
        return _index_item(expr.item) + order + nulls
    if isinstance(expr, OpClass):
        return f"{_index_item(expr.item)} {expr.opclass}"
    if isinstance(expr, DeclaredColumn):
        return quote_ident(expr.db_name)
    return f"({_sql(expr)})"


def _table(t: type[DeclaredTable]) -> Table:
    meta = t.__table__
    schema = meta.schema or "public"
    pk_columns = {c.db_name for c in meta.primary_key}
    columns = []
    for col in meta.columns:
        type_ = _column_type(col)
        columns.append(
            Column(
                col.db_name,
                type_,
                not_null=not col.nullable or col.db_name in pk_columns or col.serial,
                default=_default(t, col, type_),
                identity=col.identity,
                generated=_sql(col.generated) if col.generated is not None else None,
                identity_start=col.identity_start,
                identity_increment=col.identity_increment,
            )
        )
    primary_key: PrimaryKey | None = None
    uniques: list[Unique] = []
    checks: list[Check] = []
    foreign_keys: list[ForeignKey] = []
    for c in ddl.constraints(t):
        names = tuple(col.db_name for col in c.columns)
        if c.kind == "p":
            primary_key = PrimaryKey(c.name, names)
        elif c.kind == "u":
            uniques.append(Unique(c.name, names, not c.nulls_distinct))
        elif c.kind == "c":
            assert c.check is not None
            checks.append(Check(c.name, _sql(c.check)))
        else:
            owner = c.references[0].table
            assert owner is not None
            ref = owner.__table__
            foreign_keys.append(
                ForeignKey(
                    c.name,
                    names,
                    qualified_key(ref.schema or "public", ref.name),
                    tuple(r.db_name for r in c.references),
                    c.on_delete or "no action",
                    c.on_update or "no action",
                )
            )
    indexes = [
        Index(
            e.name,
            tuple(_index_item(x) for x in e.columns),
            e.unique,
            (e.method or "btree").lower(),
            _sql(e.predicate) if e.predicate is not None else None,
            nulls_not_distinct=not e.nulls_distinct,
        )
        for e in meta.extras
        if isinstance(e, DeclaredIndex)
    ]
    return Table(
        schema,
        meta.name,
        tuple(columns),
        primary_key,
        tuple(foreign_keys),
        tuple(uniques),
        tuple(checks),
        (),
        tuple(indexes),
    )
