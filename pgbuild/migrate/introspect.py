"""Read the schema model of a live database from ``pg_catalog``.

::

    with psycopg.connect(url) as conn:
        live = introspect(conn)                   # every user schema
        app = introspect(conn, schemas=["app"])  # only these

Names and types are printed with ``search_path`` set to ``public`` for the
duration (restored after), so that ``format_type`` and ``pg_get_expr``
qualify exactly what is outside ``public``, whatever the connection's own
setting. Extensions are listed by name (those installed in the schemas
read); the objects that belong to them are left out, as are partitions,
views and everything else the model does not describe.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from pgbuild.migrate.model import (
    Check,
    Column,
    Enum,
    Exclude,
    FkAction,
    ForeignKey,
    Identity,
    Index,
    PrimaryKey,
    Schema,
    Table,
    Unique,
    qualified_key,
)
from pgbuild.migrate.sqlparse import Unparsable, tokenize

_ACTIONS: dict[str, FkAction] = {
    "a": "no action",
    "r": "restrict",
    "c": "cascade",
    "n": "set null",
    "d": "set default",
}
_IDENTITY: dict[str, Identity] = {"a": "always", "d": "by default"}

_NOT_EXTENSION = """NOT EXISTS (SELECT 1 FROM pg_depend dep
    WHERE dep.classid = {catalog}::regclass AND dep.objid = {oid} AND dep.deptype = 'e')"""

_SCHEMAS = f"""
SELECT n.nspname FROM pg_namespace n
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
  AND {_NOT_EXTENSION.format(catalog="'pg_namespace'", oid="n.oid")}
  AND (%(schemas)s::text[] IS NULL OR n.nspname = ANY(%(schemas)s::text[]))
"""

_ENUMS = f"""
SELECT n.nspname, t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname = ANY(%(found)s::text[])
  AND {_NOT_EXTENSION.format(catalog="'pg_type'", oid="t.oid")}
GROUP BY n.nspname, t.typname
"""

_TABLES = f"""
SELECT c.oid, n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND NOT c.relispartition
  AND n.nspname = ANY(%(found)s::text[])
  AND {_NOT_EXTENSION.format(catalog="'pg_class'", oid="c.oid")}
"""

_EXTENSIONS = """
SELECT e.extname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE n.nspname = ANY(%(found)s::text[])
"""

# An identity column's sequence depends on it "internally" (a serial's, "auto").
_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       a.attidentity::text, a.attgenerated::text, pg_get_expr(d.adbin, d.adrelid),
       s.seqstart, s.seqincrement
FROM pg_attribute a
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_depend dep ON a.attidentity <> '' AND dep.refobjid = a.attrelid
     AND dep.refobjsubid = a.attnum AND dep.deptype = 'i'
     AND dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass
LEFT JOIN pg_sequence s ON s.seqrelid = dep.objid
WHERE a.attrelid = ANY(%(oids)s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

_COLUMN_NAMES = """ARRAY(SELECT a.attname::text FROM unnest({keys}) WITH ORDINALITY k(num, ord)
    JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.num ORDER BY k.ord)"""

_CONSTRAINTS = f"""
SELECT con.conrelid, con.conname, con.contype::text,
       {_COLUMN_NAMES.format(keys="con.conkey", rel="con.conrelid")},
       fn.nspname, fc.relname,
       {_COLUMN_NAMES.format(keys="con.confkey", rel="con.confrelid")},
       con.confdeltype::text, con.confupdtype::text, con.condeferrable, con.condeferred,
       pg_get_expr(con.conbin, con.conrelid), pg_get_constraintdef(con.oid),
       COALESCE(x.indnullsnotdistinct, false)
FROM pg_constraint con
LEFT JOIN pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
LEFT JOIN pg_index x ON x.indexrelid = con.conindid AND con.contype IN ('p', 'u')
WHERE con.conrelid = ANY(%(oids)s::oid[]) AND con.contype IN ('p', 'u', 'f', 'c', 'x')
  AND con.conislocal
"""

_INDEXES = """
SELECT x.indrelid, i.relname, x.indisunique, am.amname, pg_get_indexdef(x.indexrelid),
       pg_get_expr(x.indpred, x.indrelid), x.indnullsnotdistinct
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_am am ON am.oid = i.relam
WHERE x.indrelid = ANY(%(oids)s::oid[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = x.indrelid
                  AND c.conindid = x.indexrelid AND c.contype IN ('p', 'u', 'x'))
"""


def introspect(conn: psycopg.Connection[Any], schemas: Sequence[str] | None = None) -> Schema:
    """The schema model of the database ``conn`` is connected to.

    ``schemas``: only these schemas (default: every schema but
    ``pg_catalog``, ``information_schema`` and the ``pg_toast``/``pg_temp``
    ones). Runs in a transaction of its own (a savepoint when ``conn`` is in
    one) and changes nothing.
    """
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT current_setting('search_path')").fetchone()
        saved = row[0] if row else "public"
        cur.execute("SELECT set_config('search_path', 'public', true)")
        try:
            return _read(cur, list(schemas) if schemas is not None else None)
        finally:
            cur.execute("SELECT set_config('search_path', %s, true)", (saved,))


def _read(cur: psycopg.Cursor[tuple[Any, ...]], schemas: list[str] | None) -> Schema:
    found = [r[0] for r in cur.execute(_SCHEMAS, {"schemas": schemas}).fetchall()]
    enums = {
        qualified_key(s, n): Enum(s, n, tuple(values))
        for s, n, values in cur.execute(_ENUMS, {"found": found}).fetchall()
    }
    rels = cur.execute(_TABLES, {"found": found}).fetchall()
    oids = [r[0] for r in rels]
    params = {"oids": oids}

    columns: dict[int, list[Column]] = defaultdict(list)
    for rel, name, type_, not_null, identity, generated, expr, start, step in cur.execute(
        _COLUMNS, params
    ).fetchall():
        columns[rel].append(
            Column(
                name,
                type_,
                not_null=not_null,
                default=None if generated else expr,
                identity=_IDENTITY.get(identity),
                generated=expr if generated else None,
                virtual=generated == "v",
                identity_start=start,
                identity_increment=step,
            )
        )

    parts: dict[int, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for (rel, name, kind, cols, ref_schema, ref_name, ref_cols, on_delete, on_update,
         deferrable, deferred, expr, definition, nnd) in cur.execute(_CONSTRAINTS, params):
        cols = tuple(cols)
        if kind == "p":
            parts[rel]["p"].append(PrimaryKey(name, cols, deferrable, deferred))
        elif kind == "u":
            parts[rel]["u"].append(Unique(name, cols, nnd, deferrable, deferred))
        elif kind == "c":
            parts[rel]["c"].append(Check(name, expr))
        elif kind == "x":
            parts[rel]["x"].append(Exclude(name, definition))
        else:
            parts[rel]["f"].append(
                ForeignKey(
                    name,
                    cols,
                    qualified_key(ref_schema, ref_name),
                    tuple(ref_cols),
                    _ACTIONS[on_delete],
                    _ACTIONS[on_update],
                    deferrable,
                    deferred,
                )
            )
    for rel, name, unique, method, definition, predicate, nnd in cur.execute(_INDEXES, params):
        items, include = index_items(definition)
        parts[rel]["i"].append(
            Index(name, items, unique, method, predicate, include, nnd)
        )

    tables: dict[str, Table] = {}
    for oid, schema, name in rels:
        p = parts[oid]
        table = Table(
            schema,
            name,
            tuple(columns[oid]),
            p["p"][0] if p["p"] else None,
            tuple(p["f"]),
            tuple(p["u"]),
            tuple(p["c"]),
            tuple(p["x"]),
            tuple(p["i"]),
        )
        tables[table.key] = table
    extensions = frozenset(r[0] for r in cur.execute(_EXTENSIONS, {"found": found}))
    return Schema(frozenset(found), enums, tables, extensions)


def index_items(definition: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The items and the ``INCLUDE`` columns of a ``pg_get_indexdef`` text::

        index_items("CREATE INDEX i ON public.t USING btree (a DESC, lower(b)) INCLUDE (c)")
        == (("a DESC", "lower(b)"), ("c",))
    """
    try:
        tokens = tokenize(definition)
    except Unparsable:  # pragma: no cover - the server's own text always tokenizes
        return (definition,), ()
    start = next(
        i for i, t in enumerate(tokens) if t.kind == "id" and t.value == "using"
    ) + 2  # USING <method> (
    items, end = _paren_list(definition, tokens, start)
    include: tuple[str, ...] = ()
    if end < len(tokens) and tokens[end].kind == "id" and tokens[end].value == "include":
        names, _ = _paren_list(definition, tokens, end + 1)
        include = tuple(tokenize(n)[0].value for n in names)
    return items, include


def _paren_list(text: str, tokens: list[Any], start: int) -> tuple[tuple[str, ...], int]:
    """The comma-separated items of the parenthesised list at ``tokens[start]``
    and the index after its closing parenthesis."""
    depth = 0
    items: list[str] = []
    item_start = tokens[start].end
    for i in range(start, len(tokens)):
        tok = tokens[i]
        if tok.kind != "punct":
            continue
        if tok.value in "([":
            depth += 1
        elif tok.value in ")]":
            depth -= 1
            if depth == 0:
                items.append(text[item_start : tok.start].strip())
                return tuple(items), i + 1
        elif tok.value == "," and depth == 1:
            items.append(text[item_start : tok.start].strip())
            item_start = tok.end
    raise ValueError(f"unbalanced parentheses in {text!r}")
