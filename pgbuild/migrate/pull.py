"""``pull``: pgbuild ``Table`` code for a schema model (usually an introspected
database).

>>> print(to_python(introspect(conn)))
from pgbuild import Table, integer, text
...
class Users(Table, name="users"):
    id = integer().primary_key()
    email = text().not_null().unique()

The code, pushed to an empty database, reproduces the same model:
extensions, enums, identity columns with their options, stored generated
columns, vector columns, and indexes on expressions, with operator classes,
ordering and NULLS NOT DISTINCT included. What pgbuild cannot declare yet
(exclusion constraints, virtual generated columns, deferrable constraints,
``INCLUDE`` columns) is written as a ``# pull:`` comment in the class
instead of being dropped silently.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pgbuild.migrate.config import Config, resolve_config
from pgbuild.migrate.model import Column, Enum, ForeignKey, Index, Schema, Table
from pgbuild.migrate.sqlparse import Parser, Token, Unparsable, tokenize
from pgbuild.naming import make_object_name

if TYPE_CHECKING:
    import os

    from pgbuild.database import Database
    from pgbuild.database_async import AsyncDatabase

__all__ = ["pull", "to_python"]

# Types with a factory of the same name (format_type spelling → factory).
_SIMPLE = {
    "text": "text",
    "smallint": "smallint",
    "integer": "integer",
    "bigint": "bigint",
    "boolean": "boolean",
    "real": "real",
    "double precision": "double_precision",
    "date": "date",
    "time without time zone": "time",
    "timestamp with time zone": "timestamp",
    "interval": "interval",
    "uuid": "uuid",
    "json": "json",
    "jsonb": "jsonb",
    "bytea": "bytea",
    "inet": "inet",
    "cidr": "cidr",
    "macaddr": "macaddr",
    "character varying": "varchar",
    "numeric": "numeric",
}
_VECTOR = re.compile(r"^vector\((\d+)\)$")
_SIZED = re.compile(r"^(character varying|character|numeric)\((\d+)(?:,(\d+))?\)$")
_FACTORY_FOR_SIZED = {"character varying": "varchar", "character": "char", "numeric": "numeric"}
# Names used inside generated class bodies; a column may not shadow them.
_BODY_NAMES = {
    "Column", "Table", "asc", "check", "desc", "extension", "foreign_key", "index",
    "primary_key", "sql", "unique", "unique_index", "to_dict", "vector",
    *_SIMPLE.values(), "char", "varchar", "numeric", "serial", "bigserial",
}


@dataclass
class _Module:
    imports: set[str] = field(default_factory=set)
    enum_vars: dict[str, str] = field(default_factory=dict)  # enum SQL name → variable
    class_names: dict[str, str] = field(default_factory=dict)  # table key → class
    attrs: dict[str, dict[str, str]] = field(default_factory=dict)  # key → column → attr

    def use(self, *names: str) -> None:
        self.imports.update(names)


def pull(
    db: Database | AsyncDatabase | str | None = None,
    *,
    config: Config | str | os.PathLike[str] | None = None,
    allow_pooler: bool = False,
) -> str:
    """Introspect the live database (the config's schemas and tables, never
    the tracking table) and return pgbuild ``Table`` code for it."""
    from pgbuild.migrate.runner import connect, live_schema

    cfg = resolve_config(config)
    with connect(db, cfg, allow_pooler=allow_pooler) as conn:
        return to_python(live_schema(conn, cfg))


def to_python(schema: Schema, *, source: str | None = None) -> str:
    """A Python module declaring ``schema``'s enums and tables."""
    mod = _Module()
    taken: set[str] = set(_BODY_NAMES) | {"pg_enum"}
    for enum in schema.enums.values():
        var = _unique(_identifier(enum.name), taken, suffix="_enum")
        mod.enum_vars[enum.sql_name] = var
    for key, table in schema.tables.items():
        mod.class_names[key] = _unique(_class_name(table.name), taken)
    for key, table in schema.tables.items():
        mod.attrs[key] = _column_attrs(table, set(mod.enum_vars.values()))

    extension_lines = []
    for name in sorted(schema.extensions):
        mod.use("extension")
        var = _unique(_identifier(name) + "_ext", taken)
        extension_lines.append(f"{var} = extension({_str(name)})")
    enum_lines = [_enum(e, mod) for e in schema.enums.values()]
    classes = [_table(t, schema, mod) for t in schema.tables.values()]

    head = [f'"""Tables pulled from {source or "the database"} by pgbuild.migrate pull."""']
    if mod.imports:
        head.append("")
        names = sorted(mod.imports, key=lambda n: (not n[0].isupper(), n))
        head += _wrap("from pgbuild import ", names)
    sections = [head, *([extension_lines] if extension_lines else []),
                *([enum_lines] if enum_lines else []), *classes]
    if not schema.tables and not schema.enums:
        sections.append(["# the database holds no tables"])
    return "\n\n\n".join("\n".join(lines) for lines in sections) + "\n"


def _wrap(prefix: str, names: list[str]) -> list[str]:
    line = prefix + ", ".join(names)
    if len(line) <= 99:
        return [line]
    return [prefix + "(", *[f"    {n}," for n in names], ")"]


def _identifier(name: str) -> str:
    ident = re.sub(r"\W", "_", name, flags=re.ASCII) or "_"
    if ident[0].isdigit():
        ident = "_" + ident
    return ident


def _unique(name: str, taken: set[str], suffix: str = "_") -> str:
    candidate = name
    if keyword.iskeyword(candidate) or candidate in taken or candidate.startswith("__"):
        candidate = name + suffix
    n = 2
    while candidate in taken or keyword.iskeyword(candidate):
        candidate = f"{name}{suffix}{n}"
        n += 1
    taken.add(candidate)
    return candidate


def _class_name(table_name: str) -> str:
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", table_name) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Table_"
    return "T" + name if name[0].isdigit() else name


def _column_attrs(table: Table, enum_vars: set[str]) -> dict[str, str]:
    # Names assigned in a class body shadow the module's for the rest of the
    # body: a column called "text" would break the next "text()".
    taken = set(_BODY_NAMES) | enum_vars
    return {c.name: _unique(_identifier(c.name).lower(), taken) for c in table.columns}


def _enum(enum: Enum, mod: _Module) -> str:
    mod.use("pg_enum")
    var = mod.enum_vars[enum.sql_name]
    labels = ", ".join(_str(v) for v in enum.values)
    schema = f", schema={_str(enum.schema)}" if enum.schema != "public" else ""
    return f"{var} = pg_enum({_str(enum.name)}, [{labels}]{schema})"


def _str(value: str) -> str:
    """A Python string literal, double-quoted where it can be."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return repr(value)


# ------------------------------------------------------------------ one table


def _table(table: Table, schema: Schema, mod: _Module) -> list[str]:
    mod.use("Table")
    key = table.key
    attrs = mod.attrs[key]
    cls = mod.class_names[key]
    options = f"name={_str(table.name)}"
    if table.schema != "public":
        options += f", schema={_str(table.schema)}"
    lines = [f"class {cls}(Table, {options}):"]
    notes: list[str] = []

    pk = table.primary_key
    inline_pk = (
        pk is not None and len(pk.columns) == 1 and pk.name == make_object_name(
            table.name, None, "pkey"
        ) and not pk.deferrable
    )
    inline_unique: dict[str, str] = {}
    constraints: list[str] = []
    for u in table.uniques:
        if u.deferrable:
            notes.append(f"unique constraint {u.name} ({', '.join(u.columns)}) is deferrable")
        if len(u.columns) == 1 and u.name == make_object_name(table.name, u.columns[0], "key") \
                and u.columns[0] not in inline_unique and not u.nulls_not_distinct:
            inline_unique[u.columns[0]] = u.name
        else:
            mod.use("unique")
            cols = ", ".join(attrs[c] for c in u.columns)
            nnd = ".nulls_not_distinct()" if u.nulls_not_distinct else ""
            constraints.append(f"unique({cols}, name={_str(u.name)}){nnd}")
    inline_fk: dict[str, ForeignKey] = {}
    for fk in table.foreign_keys:
        target = mod.class_names.get(fk.ref_table)
        if target is None:
            notes.append(f"foreign key {fk.name} references {fk.ref_table}, which was not pulled")
            continue
        if fk.deferrable:
            notes.append(f"foreign key {fk.name} is deferrable")
        ref_attrs = mod.attrs[fk.ref_table]
        actions = _actions(fk)
        if len(fk.columns) == 1 and fk.name == make_object_name(
            table.name, fk.columns[0], "fkey"
        ) and fk.columns[0] not in inline_fk:
            inline_fk[fk.columns[0]] = fk
            continue
        mod.use("foreign_key")
        cols = ", ".join(attrs[c] for c in fk.columns)
        refs = ", ".join(f"{target}.{ref_attrs[c]}" for c in fk.ref_columns)
        call = f"foreign_key([{cols}], references=lambda: [{refs}]{actions}, name={_str(fk.name)})"
        if len(call) > 88:
            call = (f"foreign_key(\n            [{cols}],\n            references=lambda: [{refs}],"
                    f"\n            {actions[2:] + ', ' if actions else ''}name={_str(fk.name)},"
                    "\n        )")
        constraints.append(call)
    if pk is not None and not inline_pk:
        mod.use("primary_key")
        cols = ", ".join(attrs[c] for c in pk.columns)
        constraints.insert(0, f"primary_key({cols}, name={_str(pk.name)})")
        if pk.deferrable:
            notes.append(f"primary key {pk.name} is deferrable")
    for c in table.checks:
        mod.use("check", "sql")
        constraints.append(f"check({_str(c.name)}, sql.raw({_str(_unwrap(c.expression))}))")
    for x in table.excludes:
        notes.append(f"exclusion constraint {x.name}: {x.definition}")

    for col in table.columns:
        expr = _column(col, table, schema, mod, notes)
        if inline_pk and pk is not None and col.name == pk.columns[0]:
            expr += ".primary_key()"
        if col.name in inline_unique:
            expr += ".unique()"
        ref_fk = inline_fk.get(col.name)
        if ref_fk is not None:
            target = mod.class_names[ref_fk.ref_table]
            ref = mod.attrs[ref_fk.ref_table][ref_fk.ref_columns[0]]
            expr += f".references(lambda: {target}.{ref}{_actions(ref_fk)})"
        lines.append(f"    {attrs[col.name]} = {expr}")

    indexes = [i for i in (_index(ix, attrs, mod, notes) for ix in table.indexes) if i]
    if indexes or constraints or notes:
        lines.append("")
    if indexes:
        lines += _tuple("__indexes__", indexes)
    if constraints:
        lines += _tuple("__constraints__", constraints)
    lines += [f"    # pull: not expressible in pgbuild yet: {n}" for n in notes]
    return lines


def _tuple(name: str, items: list[str]) -> list[str]:
    one_line = f"    {name} = ({', '.join(items)},)"
    if len(one_line) <= 99:
        return [one_line]
    return [f"    {name} = (", *[f"        {i}," for i in items], "    )"]


def _actions(fk: ForeignKey) -> str:
    out = ""
    if fk.on_delete != "no action":
        out += f", on_delete={_str(fk.on_delete)}"
    if fk.on_update != "no action":
        out += f", on_update={_str(fk.on_update)}"
    return out


def _unwrap(expression: str) -> str:
    """``(a > 0)`` → ``a > 0`` when the parentheses enclose everything."""
    text = expression.strip()
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    try:
        tokens = tokenize(text)
    except Unparsable:
        return False
    depth = 0
    for t in tokens:
        if t.kind == "punct" and t.value == "(":
            depth += 1
        elif t.kind == "punct" and t.value == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


# ------------------------------------------------------------------ columns


def _column(col: Column, table: Table, schema: Schema, mod: _Module, notes: list[str]) -> str:
    base, dims = col.type, 0
    while base.endswith("[]"):
        base, dims = base[:-2], dims + 1
    name_arg = f"name={_str(col.name)}" if _needs_name(col, mod.attrs[table.key]) else ""
    default = col.default
    serial = _serial(col, table, base, dims)
    enum = schema.enum_of_type(base)
    vector = _VECTOR.match(base)
    if serial:
        mod.use(serial)
        call, default = f"{serial}({name_arg})", None
    elif enum is not None:
        call = f"{mod.enum_vars[enum.sql_name]}({name_arg})"
    elif vector:
        mod.use("vector")
        call = f"vector({vector[1]}{', ' if name_arg else ''}{name_arg})"
    else:
        call = _type_call(base, name_arg, mod)
    if dims:
        call += ".array()" if dims == 1 else f".array(dimensions={dims})"
    if default is not None:
        if default.strip() == "now()":
            call += ".default_now()"
        else:
            mod.use("sql")
            call += f".default_sql(sql.raw({_str(default)}))"
    if col.not_null and not serial and col.identity is None and not _is_pk_column(col, table):
        call += ".not_null()"
    if col.identity is not None:
        options = [f"{k}={v}" for k, v in (("start", col.identity_start),
                                            ("increment", col.identity_increment))
                   if v is not None]
        kind = "always" if col.identity == "always" else "by_default"
        call += f".generated_{kind}_as_identity({', '.join(options)})"
    if col.generated is not None and col.virtual:
        notes.append(f"column {col.name} is GENERATED ALWAYS AS ({col.generated}) VIRTUAL")
    elif col.generated is not None:
        mod.use("sql")
        call += f".generated_always_as(sql.raw({_str(_unwrap(col.generated))}))"
    return call


def _is_pk_column(col: Column, table: Table) -> bool:
    # .primary_key() implies NOT NULL; a composite key's columns keep it explicit.
    pk = table.primary_key
    return (
        pk is not None and pk.columns == (col.name,)
        and pk.name == make_object_name(table.name, None, "pkey") and not pk.deferrable
    )


def _needs_name(col: Column, attrs: dict[str, str]) -> bool:
    return attrs[col.name] != col.name


def _serial(col: Column, table: Table, base: str, dims: int) -> str | None:
    if dims or base not in ("integer", "bigint") or col.default is None or not col.not_null:
        return None
    sequence = make_object_name(table.name, col.name, "seq")
    qualified = sequence if table.schema == "public" else f"{table.schema}.{sequence}"
    expected = {f"nextval('{qualified}'::regclass)", f"nextval('{sequence}'::regclass)"}
    if col.default.strip() not in expected:
        return None
    return "serial" if base == "integer" else "bigserial"


def _type_call(base: str, name_arg: str, mod: _Module) -> str:
    sep = ", " if name_arg else ""
    if base in _SIMPLE:
        factory = _SIMPLE[base]
        mod.use(factory)
        return f"{factory}({name_arg})"
    if base == "timestamp without time zone":
        mod.use("timestamp")
        return f"timestamp({name_arg}{sep}with_timezone=False)"
    sized = _SIZED.match(base)
    if sized:
        factory = _FACTORY_FOR_SIZED[sized[1]]
        mod.use(factory)
        args = sized[2] + (f", {sized[3]}" if sized[3] is not None else "")
        return f"{factory}({args}{sep}{name_arg})"
    # Any other type (citext, ranges, time with time zone, ...): a plain Column.
    mod.use("Column")
    return f"Column({_str(base)}{sep}{name_arg})"


# ------------------------------------------------------------------ indexes


def _index(ix: Index, attrs: dict[str, str], mod: _Module, notes: list[str]) -> str | None:
    items = []
    for item in ix.columns:
        rendered = _index_item(item, attrs, mod)
        if rendered is None:
            notes.append(f"index {ix.name} item {item!r}")
            return None
        items.append(rendered)
    if ix.include:
        notes.append(f"index {ix.name} INCLUDE ({', '.join(ix.include)})")
    factory = "unique_index" if ix.unique else "index"
    mod.use(factory)
    out = f"{factory}({_str(ix.name)})"
    if ix.method != "btree":
        out += f".using({_str(ix.method)})"
    out += f".on({', '.join(items)})"
    if ix.predicate is not None:
        mod.use("sql")
        out += f".where(sql.raw({_str(_unwrap(ix.predicate))}))"
    if ix.nulls_not_distinct:
        out += ".nulls_not_distinct()"
    return out


def _index_item(item: str, attrs: dict[str, str], mod: _Module) -> str | None:
    """One index item as code: a column (``email``) or an expression
    (``sql.raw("lower(email)")``), then ``.op("opclass")``, wrapped in
    ``asc()``/``desc()`` for an ordering; None when it cannot be declared."""
    try:
        tokens = tokenize(item)
        parser = Parser(tokens)
        parser.expr()
    except (Unparsable, IndexError):
        return None
    end = parser.pos
    head = tokens[:end]
    rest = tokens[end:]
    if len(head) == 1 and head[0].kind in ("id", "qid") and head[0].value in attrs:
        code = attrs[head[0].value]
    else:
        mod.use("sql")
        text = item[: rest[0].start] if rest else item
        code = f"sql.raw({_str(_unwrap(text))})"
    # An operator class (maybe schema-qualified), then ASC/DESC, NULLS FIRST/LAST.
    def opclass_part(t: Token) -> bool:
        if t.kind == "punct":
            return t.value == "."
        return t.kind in ("id", "qid") and t.value not in ("asc", "desc", "nulls")

    opclass: list[str] = []
    while rest and opclass_part(rest[0]):
        opclass.append(rest[0].value)
        rest = rest[1:]
    if any(t.kind != "id" for t in rest):
        return None
    order = _ordering(t.value for t in rest)
    if order is None:
        return None
    if opclass:
        code += f".op({_str(''.join(opclass))})"
    descending, nulls = order
    if not descending and nulls is None:
        return code
    fn = "desc" if descending else "asc"
    mod.use(fn)
    return f"{fn}({code}" + (f", nulls={_str(nulls)}" if nulls else "") + ")"


def _ordering(words: Iterable[str]) -> tuple[bool, str | None] | None:
    rest = list(words)
    descending = False
    if rest[:1] in (["asc"], ["desc"]):
        descending = rest.pop(0) == "desc"
    nulls: str | None = None
    if rest[:1] == ["nulls"] and len(rest) == 2 and rest[1] in ("first", "last"):
        nulls = rest[1]
        rest = []
    if rest:
        return None
    if nulls == ("first" if descending else "last"):
        nulls = None  # the default for that direction
    return descending, nulls
