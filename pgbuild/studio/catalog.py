"""What the studio knows of the database, read from ``pg_catalog``.

:func:`describe` is the schema browser's answer (every user schema, table,
view, column, index, constraint, foreign key both ways, enum, and a readable
DDL per table), in a handful of queries whatever the number of tables.
:func:`load_table` looks up one table for the grid and the editor, and is
how every schema, table and column name in a request is checked before it
goes near SQL: a name the catalog does not have is a 404 naming it, and the
types values are cast to come from ``format_type``, never from the request.

>>> with db.pool.connection() as conn:
...     users = load_table(conn, "public", "users")
...     users.column("email").cast          # 'text'
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql

from pgbuild.studio.protocol import ApiError

__all__ = ["ColumnInfo", "TableInfo", "describe", "load_table"]

Kind = Literal["plain", "bytea", "json", "jsonb", "array"]

KINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "f": "foreign table"}

_USER_SCHEMA = """n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp\\_%%'"""

# The type a column's values are handled as: a domain by its base type.
_BASE_TYPE = (
    "JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END"
)

# Whether ORDER BY works on the (base) type: arrays, enums, ranges and
# composites sort; other types need a default btree operator class, their
# own or one of a type they are binary-coercible to (varchar -> text).
_ORDERABLE = """(bt.typcategory = 'A' OR bt.typtype IN ('e', 'r', 'm', 'c') OR EXISTS (
    SELECT 1 FROM pg_opclass o JOIN pg_am am ON am.oid = o.opcmethod
    WHERE am.amname = 'btree' AND o.opcdefault AND (o.opcintype = bt.oid OR EXISTS (
        SELECT 1 FROM pg_cast k
        WHERE k.castsource = bt.oid AND k.casttarget = o.opcintype AND k.castmethod = 'b'))))"""

_KIND = """CASE WHEN bt.typname = 'bytea' AND bt.typnamespace = 'pg_catalog'::regnamespace
    THEN 'bytea'
  WHEN bt.typname IN ('json', 'jsonb') AND bt.typnamespace = 'pg_catalog'::regnamespace
    THEN bt.typname::text
  WHEN bt.typcategory = 'A' THEN 'array' ELSE 'plain' END"""

_TABLE = f"""
SELECT c.relkind, a.attname, format_type(a.atttypid, a.atttypmod),
       format_type(a.atttypid, NULL), NOT a.attnotnull, {_KIND}, {_ORDERABLE},
       array_position(pk.conkey, a.attnum), a.attidentity = 'a' OR a.attgenerated <> ''
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p'
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_type t ON t.oid = a.atttypid
LEFT {_BASE_TYPE}
WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY a.attnum
"""


@dataclass(frozen=True)
class ColumnInfo:
    """One column as the grid handles it.

    ``type`` is shown (``numeric(40,10)``); ``cast`` is what request values
    are cast to (``numeric``: without the type modifier, so a filter value
    is compared as given, and a written value meets the column's own
    modifier on assignment)."""

    name: str
    type: str
    cast: str
    nullable: bool
    kind: Kind
    orderable: bool
    generated: bool  # identity ALWAYS or a generated column: not written by inserts

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.name)

    @property
    def cast_type(self) -> sql.SQL:
        """The catalog's type name as SQL (``format_type`` quotes it)."""
        return sql.SQL(self.cast)  # format_type's output, never a request's text


@dataclass(frozen=True)
class TableInfo:
    """A table, view, materialized view or foreign table, with its columns
    and primary key (empty when it has none)."""

    schema: str
    name: str
    relkind: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def kind(self) -> str:
        return KINDS[self.relkind]

    @property
    def has_ctid(self) -> bool:
        """Rows have a physical address (tables and materialized views)."""
        return self.relkind in ("r", "p", "m")

    def column(self, name: object) -> ColumnInfo:
        """The column called ``name``; a 404 naming it when there is none."""
        for column in self.columns:
            if column.name == name:
                return column
        shown = name if isinstance(name, str) else repr(name)
        raise ApiError(404, f"no column {shown!r} in {self.label}")


def load_table(conn: psycopg.Connection[Any], schema: str, name: str) -> TableInfo:
    """The table ``schema.name`` from the catalog; a 404 naming the schema
    or the table when it does not exist."""
    # Prepared: planning this catalog query costs more than running it.
    rows = conn.execute(_TABLE, (schema, name), prepare=True).fetchall()
    if not rows:
        found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
        if found.fetchone() is None:
            raise ApiError(404, f"no schema {schema!r}")
        raise ApiError(404, f"no table or view {name!r} in schema {schema!r}")
    columns = tuple(
        ColumnInfo(r[1], r[2], r[3], r[4], r[5], r[6], r[8]) for r in rows if r[1] is not None
    )
    keyed = sorted((r[7], r[1]) for r in rows if r[7] is not None)
    return TableInfo(schema, name, rows[0][0], columns, tuple(n for _, n in keyed))


# ------------------------------------------------------------------ the schema browser

_RELATIONS = f"""
SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples::float8,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname),
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       CASE WHEN c.relispartition THEN (
           SELECT quote_ident(pn.nspname) || '.' || quote_ident(pc.relname) || ' '
                  || pg_get_expr(c.relpartbound, c.oid)
           FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
           JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = c.oid) END,
       (SELECT quote_ident(s.srvname) FROM pg_foreign_table ft
        JOIN pg_foreign_server s ON s.oid = ft.ftserver WHERE ft.ftrelid = c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_USER_SCHEMA}
ORDER BY n.nspname, c.relname
"""

_COLUMNS = f"""
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END,
       CASE WHEN bt.typtype = 'e' THEN ARRAY(
           SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = bt.oid
           ORDER BY e.enumsortorder) END,
       quote_ident(a.attname), a.attidentity, a.attgenerated,
       CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
{_BASE_TYPE}
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

_INDEXES = """
SELECT i.indrelid, c.relname, pg_get_indexdef(i.indexrelid),
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
               AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = ANY(%s)
ORDER BY i.indrelid, c.relname
"""

_NAMES = """ARRAY(SELECT a.attname::text FROM unnest({keys}) WITH ORDINALITY u(num, pos)
    JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = u.num ORDER BY u.pos)"""

_CONSTRAINTS = f"""
SELECT k.conrelid, k.conname, k.contype::text, pg_get_constraintdef(k.oid, true),
       {_NAMES.format(keys="k.conkey", rel="k.conrelid")},
       rn.nspname, rc.relname,
       {_NAMES.format(keys="k.confkey", rel="k.confrelid")},
       quote_ident(k.conname)
FROM pg_constraint k
LEFT JOIN pg_class rc ON rc.oid = k.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE k.conrelid = ANY(%s) AND k.contype IN ('p', 'u', 'f', 'c', 'x')
ORDER BY k.conrelid, k.contype = 'p' DESC, k.conname
"""

_ENUMS = f"""
SELECT n.nspname, t.typname,
       ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid
             ORDER BY e.enumsortorder)
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'e' AND {_USER_SCHEMA}
ORDER BY n.nspname, t.typname
"""

_SCHEMAS = f"SELECT n.nspname FROM pg_namespace n WHERE {_USER_SCHEMA} ORDER BY n.nspname"


def describe(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Every user schema with its tables (each with columns, indexes,
    constraints, foreign keys both ways and DDL) and enums, as the
    ``schemas`` list of ``GET /api/schema``."""
    relations = conn.execute(_RELATIONS).fetchall()
    oids = [r[0] for r in relations]
    columns: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in conn.execute(_COLUMNS, (oids,)):
        columns[row[0]].append(row)
    indexes: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in conn.execute(_INDEXES, (oids,)):
        indexes[row[0]].append(row)
    constraints: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in conn.execute(_CONSTRAINTS, (oids,)):
        constraints[row[0]].append(row)

    schemas: dict[str, dict[str, Any]] = {
        name: {"name": name, "tables": [], "enums": []}
        for (name,) in conn.execute(_SCHEMAS)
    }
    tables: dict[tuple[str, str], dict[str, Any]] = {}
    for oid, schema, name, relkind, reltuples, qualified, view, partkey, parent, server in (
        relations
    ):
        cons = constraints[oid]
        table = {
            "schema": schema,
            "name": name,
            "kind": KINDS[relkind],
            "estimated_rows": int(reltuples) if reltuples >= 0 else -1,
            "primary_key": next((list(c[4]) for c in cons if c[2] == "p"), []),
            "columns": [_column(c) for c in columns[oid]],
            "indexes": [{"name": i[1], "definition": i[2]} for i in indexes[oid]],
            "constraints": [{"name": c[1], "type": c[2], "definition": c[3]} for c in cons],
            "foreign_keys": [
                {"name": c[1], "columns": list(c[4]), "ref_schema": c[5], "ref_table": c[6],
                 "ref_columns": list(c[7])}
                for c in cons if c[2] == "f"
            ],
            "referenced_by": [],
            "ddl": _ddl(relkind, qualified, view, partkey, parent, server,
                        columns[oid], cons, indexes[oid]),
        }
        tables[schema, name] = table
        schemas[schema]["tables"].append(table)
    for table in tables.values():
        for fk in table["foreign_keys"]:
            target = tables.get((fk["ref_schema"], fk["ref_table"]))
            if target is not None:
                target["referenced_by"].append({
                    "name": fk["name"], "schema": table["schema"], "table": table["name"],
                    "columns": fk["columns"], "ref_columns": fk["ref_columns"],
                })
    for schema, name, labels in conn.execute(_ENUMS):
        schemas[schema]["enums"].append({"name": name, "values": list(labels)})
    return list(schemas.values())


def _column(row: tuple[Any, ...]) -> dict[str, Any]:
    _, name, type_, nullable, default, labels, _, identity, generated, expression = row
    return {
        "name": name,
        "type": type_,
        "nullable": nullable,
        "default": default,
        "enum": list(labels) if labels is not None else None,
        "identity": {"a": "always", "d": "by default"}.get(identity),
        "generated": expression if generated else None,
    }


def _ddl(
    relkind: str,
    qualified: str,
    view: str | None,
    partkey: str | None,
    parent: str | None,
    server: str | None,
    columns: list[tuple[Any, ...]],
    constraints: list[tuple[Any, ...]],
    indexes: list[tuple[Any, ...]],
) -> str:
    """A readable CREATE statement with its constraints, then the indexes
    that no constraint creates."""
    if relkind in ("v", "m"):
        what = "VIEW" if relkind == "v" else "MATERIALIZED VIEW"
        out = [f"CREATE {what} {qualified} AS\n{(view or '').rstrip().rstrip(';')};"]
    else:
        lines = [_column_ddl(c) for c in columns]
        lines += [f"CONSTRAINT {c[8]} {c[3]}" for c in constraints]
        body = ",\n".join(f"    {line}" for line in lines)
        what = "FOREIGN TABLE" if relkind == "f" else "TABLE"
        tail = ""
        if partkey:
            tail += f"\nPARTITION BY {partkey}"
        if server:
            tail += f"\nSERVER {server}"
        head = f"CREATE {what} {qualified} (\n{body}\n)"
        if parent:
            tail = f"\n-- a partition of {parent}" + tail
        out = [f"{head}{tail};"]
    out += [f"{i[2]};" for i in indexes if not i[3]]
    return "\n\n".join(out)


def _column_ddl(row: tuple[Any, ...]) -> str:
    _, _, type_, nullable, default, _, quoted, identity, generated, expression = row
    parts = [quoted, type_]
    if identity:
        parts.append("GENERATED ALWAYS AS IDENTITY" if identity == "a"
                     else "GENERATED BY DEFAULT AS IDENTITY")
    if generated:
        parts.append(f"GENERATED ALWAYS AS ({expression})"
                     + (" STORED" if generated == "s" else " VIRTUAL"))
    if default is not None and not identity:
        parts.append(f"DEFAULT {default}")
    if not nullable:
        parts.append("NOT NULL")
    return " ".join(parts)
