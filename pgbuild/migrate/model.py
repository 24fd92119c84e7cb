"""One in-memory model of a database schema, whether declared in Python or
read from a live database.

::

    schema = from_tables([Users, Sessions])        # pgbuild.migrate.declared
    live = introspect(conn)                         # pgbuild.migrate.introspect
    schema == live                                  # nothing to migrate
    Schema.from_json(schema.to_json()) == schema    # snapshots round-trip

Every value is a frozen dataclass; a schema is compared with ``==``.

Names: tables and enums are keyed by their *qualified key*, ``"name"`` in
``public`` and ``"schema.name"`` elsewhere (unquoted). Column types are SQL
text as PostgreSQL's ``format_type`` writes them (``character varying(255)``,
``timestamp with time zone``, ``integer[]``, ``app.status``), identifiers
quoted only where PostgreSQL would quote them.

Expressions (defaults, generated columns, checks, index items and
predicates) are kept as SQL text that can be run as is, and compared by their
*normal form* (:func:`pgbuild.migrate.normalize.normal_expr`), in which
quoting, parentheses and the spelling of operators, casts and literals do not
matter. So ``"qty" >= 0`` as pgbuild declares it equals ``(qty >= 0)`` as the
server reports it.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal, TypeAlias

from pgbuild.migrate.normalize import normal_expr, normal_index_item
from pgbuild.migrate.sqlparse import Unparsable, tokenize

Identity = Literal["always", "by default"]
FkAction = Literal["no action", "restrict", "cascade", "set null", "set default"]

# ------------------------------------------------------------------ names

# Keywords that PostgreSQL's quote_ident quotes: every category but
# "unreserved" of pg_get_keywords() (PostgreSQL 18; a test checks the list).
QUOTED_KEYWORDS = frozenset(
    """
    all analyse analyze and any array as asc asymmetric authorization between bigint binary bit
    boolean both case cast char character check coalesce collate collation column concurrently
    constraint create cross current_catalog current_date current_role current_schema
    current_time current_timestamp current_user dec decimal default deferrable desc distinct do
    else end except exists extract false fetch float for foreign freeze from full grant greatest
    group grouping having ilike in initially inner inout int integer intersect interval into is
    isnull join json json_array json_arrayagg json_exists json_object json_objectagg json_query
    json_scalar json_serialize json_table json_value lateral leading least left like limit
    localtime localtimestamp merge_action national natural nchar none normalize not notnull null
    nullif numeric offset on only or order out outer overlaps overlay placing position precision
    primary real references returning right row select session_user setof similar smallint some
    substring symmetric system_user table tablesample then time timestamp to trailing treat trim
    true union unique user using values varchar variadic verbose when where window with
    xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot
    xmlserialize xmltable
    """.split()
)
_SAFE_IDENT = re.compile(r"[a-z_][a-z0-9_]*")


def quote_ident(name: str) -> str:
    """``name`` as PostgreSQL's ``quote_ident`` writes it: bare when it can be."""
    if _SAFE_IDENT.fullmatch(name) and name not in QUOTED_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A standard SQL string literal: ``'it''s'``."""
    return "'" + value.replace("'", "''") + "'"


def qualified_key(schema: str, name: str) -> str:
    """The key of a table or enum: ``name`` in ``public``, else ``schema.name``."""
    return name if schema == "public" else f"{schema}.{name}"


def split_key(key: str) -> tuple[str, str]:
    """``"app.t"`` → ``("app", "t")``; ``"t"`` → ``("public", "t")``."""
    schema, dot, name = key.partition(".")
    return (schema, name) if dot else ("public", key)


def sql_name(schema: str, name: str) -> str:
    """The quoted SQL name of a table or type, qualified outside ``public``."""
    if schema == "public":
        return quote_ident(name)
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def rewrite_expr(
    text: str | None,
    columns: Mapping[str, str] | None = None,
    types: Mapping[str, str] | None = None,
) -> str | None:
    """``text`` with renamed columns (``old → new``) and types (key → SQL
    name), as the server would print it after ``RENAME``."""
    if text is None or not (columns or types):
        return text
    try:
        tokens = tokenize(text)
    except Unparsable:
        return text
    out: list[str] = []
    last = 0
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        prev = tokens[i - 1] if i else None
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if types and prev is not None and prev.kind == "cast" and tok.kind in ("id", "qid"):
            parts = [tok.value]
            end_index = i
            if nxt is not None and nxt.value == "." and nxt.kind == "punct" and i + 2 < len(tokens):
                parts.append(tokens[i + 2].value)
                end_index = i + 2
            key = parts[0] if len(parts) == 1 else qualified_key(parts[0], parts[1])
            if key in types:
                out += [text[last : tok.start], types[key]]
                last = tokens[end_index].end
                i = end_index + 1
                continue
        elif (
            columns
            and tok.kind in ("id", "qid")
            and tok.value in columns
            and (prev is None or (prev.kind != "cast" and prev.value != "."))
            and (nxt is None or nxt.value not in ("(", "."))
        ):
            out += [text[last : tok.start], quote_ident(columns[tok.value])]
            last = tok.end
        i += 1
    out.append(text[last:])
    return "".join(out)


# ------------------------------------------------------------------ the model


def _derived(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class Enum:
    """An enum type: ``Enum("public", "mood", ("sad", "ok", "happy"))``."""

    schema: str
    name: str
    values: tuple[str, ...]

    @property
    def key(self) -> str:
        return qualified_key(self.schema, self.name)

    @property
    def sql_name(self) -> str:
        """The type's name in SQL and in column types (``mood``, ``app.status``)."""
        return sql_name(self.schema, self.name)


@dataclass(frozen=True)
class Column:
    """A column. ``default`` and ``generated`` are SQL text, compared by
    their normal form; ``identity`` columns have no default, and their
    sequence's ``identity_start`` and ``identity_increment`` (None where
    PostgreSQL's default); ``virtual`` marks a generated column that is not
    stored (PostgreSQL 18)."""

    name: str
    type: str
    not_null: bool = False
    default: str | None = field(default=None, compare=False)
    identity: Identity | None = None
    generated: str | None = field(default=None, compare=False)
    virtual: bool = False
    identity_start: int | None = None
    identity_increment: int | None = None
    default_key: str | None = field(init=False, repr=False, default=None)
    generated_key: str | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        _derived(self, "default_key", normal_expr(self.default))
        _derived(self, "generated_key", normal_expr(self.generated))
        start, increment = identity_options(
            self.identity_start if self.identity else None,
            self.identity_increment if self.identity else None,
        )
        _derived(self, "identity_start", start)
        _derived(self, "identity_increment", increment)


def identity_options(start: int | None, increment: int | None) -> tuple[int | None, int | None]:
    """An identity's START and INCREMENT, None where they are PostgreSQL's
    defaults (increment 1; start 1 ascending, -1 descending)."""
    step = 1 if increment is None else increment
    default_start = 1 if step > 0 else -1
    first = default_start if start is None else start
    return (None if first == default_start else first), (None if step == 1 else step)


@dataclass(frozen=True)
class PrimaryKey:
    name: str
    columns: tuple[str, ...]
    deferrable: bool = False
    initially_deferred: bool = False


@dataclass(frozen=True)
class ForeignKey:
    """``columns`` reference ``ref_columns`` of the table keyed ``ref_table``."""

    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: FkAction = "no action"
    on_update: FkAction = "no action"
    deferrable: bool = False
    initially_deferred: bool = False


@dataclass(frozen=True)
class Unique:
    name: str
    columns: tuple[str, ...]
    nulls_not_distinct: bool = False
    deferrable: bool = False
    initially_deferred: bool = False


@dataclass(frozen=True)
class Check:
    """A check constraint; ``expression`` is compared by its normal form."""

    name: str
    expression: str = field(compare=False)
    expression_key: str | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        _derived(self, "expression_key", normal_expr(self.expression))


@dataclass(frozen=True)
class Exclude:
    """An exclusion constraint, as ``pg_get_constraintdef`` writes it
    (``EXCLUDE USING gist (c WITH &&)``); only read from databases."""

    name: str
    definition: str


@dataclass(frozen=True)
class Index:
    """An index that backs no constraint. ``columns`` are its items as SQL
    text (a column, or an expression, with an optional operator class and
    ordering); ``predicate`` makes it partial."""

    name: str
    columns: tuple[str, ...] = field(compare=False)
    unique: bool = False
    method: str = "btree"
    predicate: str | None = field(default=None, compare=False)
    include: tuple[str, ...] = ()
    nulls_not_distinct: bool = False
    columns_key: tuple[str, ...] = field(init=False, repr=False, default=())
    predicate_key: str | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        _derived(self, "columns_key",
                 tuple(normal_index_item(c, self.method) for c in self.columns))
        _derived(self, "predicate_key", normal_expr(self.predicate))


Constraint: TypeAlias = PrimaryKey | ForeignKey | Unique | Check | Exclude


@dataclass(frozen=True)
class Table:
    """A table: columns in their order (compared regardless of order),
    constraints and indexes (kept sorted by name)."""

    schema: str
    name: str
    columns: tuple[Column, ...] = field(compare=False)
    primary_key: PrimaryKey | None = None
    foreign_keys: tuple[ForeignKey, ...] = ()
    uniques: tuple[Unique, ...] = ()
    checks: tuple[Check, ...] = ()
    excludes: tuple[Exclude, ...] = ()
    indexes: tuple[Index, ...] = ()
    columns_by_name: tuple[Column, ...] = field(init=False, repr=False, default=())

    def __post_init__(self) -> None:
        _derived(self, "columns_by_name", tuple(sorted(self.columns, key=lambda c: c.name)))
        for name in ("foreign_keys", "uniques", "checks", "excludes", "indexes"):
            _derived(self, name, tuple(sorted(getattr(self, name), key=lambda c: c.name)))

    @property
    def key(self) -> str:
        return qualified_key(self.schema, self.name)

    @property
    def sql_name(self) -> str:
        return sql_name(self.schema, self.name)

    def column(self, name: str) -> Column | None:
        """The column called ``name``, or None."""
        return next((c for c in self.columns if c.name == name), None)

    def constraints(self) -> tuple[Constraint, ...]:
        """Every constraint: primary key, uniques, checks, exclusions, foreign keys."""
        pk: tuple[Constraint, ...] = (self.primary_key,) if self.primary_key else ()
        return pk + self.uniques + self.checks + self.excludes + self.foreign_keys


@dataclass(frozen=True)
class Schema:
    """A database schema: schema names, enums and tables by qualified key,
    and the names of the extensions it needs.

    ``drop_extensions`` are extensions declared dropped
    (``drop_extension("ltree")``): the differ drops them where they exist,
    and never drops any other. Only a declared schema has them, so they do
    not take part in comparisons."""

    schemas: frozenset[str] = frozenset()
    enums: Mapping[str, Enum] = field(default_factory=dict)
    tables: Mapping[str, Table] = field(default_factory=dict)
    extensions: frozenset[str] = frozenset()
    drop_extensions: frozenset[str] = field(default=frozenset(), compare=False)

    def __post_init__(self) -> None:
        _derived(self, "schemas", frozenset(self.schemas))
        _derived(self, "extensions", frozenset(self.extensions))
        _derived(self, "drop_extensions", frozenset(self.drop_extensions))
        _derived(self, "enums", dict(sorted(self.enums.items())))
        _derived(self, "tables", dict(sorted(self.tables.items())))

    def enum_of_type(self, type_sql: str) -> Enum | None:
        """The enum a column type (``mood``, ``app.status[]``) is made of, or None."""
        base = type_sql.split("[", 1)[0]
        return next((e for e in self.enums.values() if e.sql_name == base), None)

    def filter(
        self, schemas: Sequence[str] | None = None, tables: Sequence[str] | None = None
    ) -> Schema:
        """Only the given schemas, and tables matching a glob pattern
        (``"app_*"``, matched against a table's name and its key).

        With ``tables`` patterns, an enum stays when a table kept uses it,
        or when its name matches a pattern and no table left out uses it:
        a type that only tables outside the filter use is never managed
        (so never dropped)."""

        def keep_schema(name: str) -> bool:
            return schemas is None or name in schemas

        def matches(name: str, key: str) -> bool:
            assert tables is not None
            return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(key, p)
                       for p in tables)

        def keep_table(t: Table) -> bool:
            return keep_schema(t.schema) and (tables is None or matches(t.name, t.key))

        kept = {k: t for k, t in self.tables.items() if keep_table(t)}
        left_out = [t for k, t in self.tables.items() if k not in kept]

        def uses(t: Table, e: Enum) -> bool:
            return any(c.type.split("[", 1)[0] == e.sql_name for c in t.columns)

        def keep_enum(e: Enum) -> bool:
            if not keep_schema(e.schema):
                return False
            if tables is None or any(uses(t, e) for t in kept.values()):
                return True
            return matches(e.name, e.key) and not any(uses(t, e) for t in left_out)

        return Schema(
            frozenset(s for s in self.schemas if keep_schema(s)),
            {k: e for k, e in self.enums.items() if keep_enum(e)},
            kept,
            self.extensions,
            self.drop_extensions,
        )

    # -- JSON snapshots

    def to_json(self) -> str:
        """The schema as stable, sorted, indented JSON (for snapshots)."""
        doc = {
            "format": "pgbuild-schema/1",
            "schemas": sorted(self.schemas),
            "extensions": sorted(self.extensions),
            "enums": {k: _to_dict(e) for k, e in self.enums.items()},
            "tables": {k: _to_dict(t) for k, t in self.tables.items()},
        }
        if self.drop_extensions:
            doc["drop_extensions"] = sorted(self.drop_extensions)
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @staticmethod
    def from_json(text: str) -> Schema:
        """The schema :meth:`to_json` wrote."""
        doc = json.loads(text)
        if doc.get("format") != "pgbuild-schema/1":
            raise ValueError(f"not a pgbuild schema snapshot (format {doc.get('format')!r})")
        return Schema(
            frozenset(doc["schemas"]),
            {k: _from_dict(Enum, v) for k, v in doc["enums"].items()},
            {k: _table_from_dict(v) for k, v in doc["tables"].items()},
            frozenset(doc.get("extensions", ())),
            frozenset(doc.get("drop_extensions", ())),
        )


def _to_dict(obj: Any) -> Any:
    """A dataclass as a dict without derived fields and without fields at
    their default value (so snapshots stay short and diffs small)."""
    if isinstance(obj, tuple):
        return [_to_dict(x) for x in obj]
    if not hasattr(obj, "__dataclass_fields__"):
        return obj
    out: dict[str, Any] = {}
    for f in fields(obj):
        if not f.init:
            continue
        value = getattr(obj, f.name)
        if f.default is not MISSING and value == f.default:
            continue
        if f.default_factory is not MISSING and value == f.default_factory():
            continue
        out[f.name] = _to_dict(value)
    return out


def _from_dict(cls: Any, data: Mapping[str, Any]) -> Any:
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**kwargs)


def _table_from_dict(data: Mapping[str, Any]) -> Table:
    pk = data.get("primary_key")
    return Table(
        data["schema"],
        data["name"],
        tuple(_from_dict(Column, c) for c in data["columns"]),
        _from_dict(PrimaryKey, pk) if pk else None,
        tuple(_from_dict(ForeignKey, c) for c in data.get("foreign_keys", ())),
        tuple(_from_dict(Unique, c) for c in data.get("uniques", ())),
        tuple(_from_dict(Check, c) for c in data.get("checks", ())),
        tuple(_from_dict(Exclude, c) for c in data.get("excludes", ())),
        tuple(_from_dict(Index, c) for c in data.get("indexes", ())),
    )
