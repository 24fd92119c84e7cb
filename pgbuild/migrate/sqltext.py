"""The SQL text of schema objects, as migrations write it: a table's name, a
column's definition (and what it needs before and after), a constraint, an
index, a serial column's sequence.

Plain text without parameters: every name goes through
:func:`~pgbuild.migrate.model.quote_ident`, every label through
:func:`~pgbuild.migrate.model.quote_literal`; expressions are the model's
SQL text.
"""

from __future__ import annotations

from pgbuild.migrate.model import (
    Check,
    Column,
    Constraint,
    Exclude,
    ForeignKey,
    Index,
    PrimaryKey,
    Unique,
    quote_ident,
    quote_literal,
    split_key,
    sql_name,
)
from pgbuild.migrate.normalize import normal_expr
from pgbuild.migrate.sqlparse import Unparsable, tokenize
from pgbuild.naming import make_object_name


def table_sql(key: str) -> str:
    """The SQL name of the table keyed ``key``."""
    return sql_name(*split_key(key))


def nextval_sequence(default: str | None) -> str | None:
    """The sequence of a ``nextval('seq'::regclass)`` default, as written
    (``"t_id_seq"``, ``"app.t_id_seq"``), or None."""
    if default is None:
        return None
    try:
        tokens = tokenize(default)
    except Unparsable:
        return None
    values = [t.value for t in tokens]
    if (
        len(tokens) >= 4
        and values[:2] == ["nextval", "("]
        and tokens[2].kind == "str"
        and values[-1] == ")"
        and values[3:-1] in ([], ["::", "regclass"])
    ):
        return tokens[2].value
    return None


def serial_sequence(key: str, column: str) -> str:
    """The name PostgreSQL gives the sequence of a ``serial`` column, as a
    regclass text (``t_id_seq``, ``app.t_id_seq``)."""
    schema, name = split_key(key)
    return sql_name(schema, make_object_name(name, column, "seq"))


def serial_default(key: str, column: str) -> str:
    """The default of a ``serial`` column: ``nextval('t_id_seq'::regclass)``."""
    return f"nextval({quote_literal(serial_sequence(key, column))}::regclass)"


_SERIALS = {"smallint": "smallserial", "integer": "serial", "bigint": "bigserial"}


def _is_serial(key: str, col: Column) -> bool:
    return (
        col.type in _SERIALS
        and col.identity is None
        and col.default_key == normal_expr(serial_default(key, col.name))
    )


def column_sql(key: str, col: Column) -> str:
    """A column definition, as in ``CREATE TABLE`` and ``ADD COLUMN``."""
    if _is_serial(key, col):
        return f"{quote_ident(col.name)} {_SERIALS[col.type]}"
    parts = [quote_ident(col.name), col.type]
    if col.identity is not None:
        parts.append(f"GENERATED {col.identity.upper()} AS IDENTITY")
        options = identity_options(col.identity_start, col.identity_increment)
        if options:
            parts.append(f"({' '.join(options)})")
    if col.generated is not None:
        kind = "VIRTUAL" if col.virtual else "STORED"
        parts.append(f"GENERATED ALWAYS AS ({col.generated}) {kind}")
    if col.not_null:
        parts.append("NOT NULL")
    if col.default is not None:
        parts.append(f"DEFAULT {col.default}")
    return " ".join(parts)


def identity_options(start: int | None, increment: int | None) -> list[str]:
    out = [] if start is None else [f"START WITH {start}"]
    return out + ([] if increment is None else [f"INCREMENT BY {increment}"])


def column_prelude(key: str, col: Column) -> list[str]:
    """Statements a column definition needs first: its own sequence when its
    default draws from one that is not a serial's."""
    sequence = nextval_sequence(col.default)
    if sequence is None or _is_serial(key, col):
        return []
    return [f"CREATE SEQUENCE IF NOT EXISTS {sequence}"]


def column_after(key: str, col: Column) -> list[str]:
    if _is_serial(key, col) and not col.not_null:
        return [f"ALTER TABLE {table_sql(key)} ALTER COLUMN {quote_ident(col.name)} DROP NOT NULL"]
    return []


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(quote_ident(n) for n in names)


def _deferrable(c: PrimaryKey | Unique | ForeignKey) -> str:
    if not c.deferrable:
        return ""
    return " DEFERRABLE INITIALLY DEFERRED" if c.initially_deferred else " DEFERRABLE"


def constraint_sql(c: Constraint) -> str:
    """A constraint's definition, after ``ADD CONSTRAINT name``."""
    if isinstance(c, PrimaryKey):
        return f"PRIMARY KEY ({_names(c.columns)}){_deferrable(c)}"
    if isinstance(c, Unique):
        nnd = " NULLS NOT DISTINCT" if c.nulls_not_distinct else ""
        return f"UNIQUE{nnd} ({_names(c.columns)}){_deferrable(c)}"
    if isinstance(c, Check):
        return f"CHECK ({c.expression})"
    if isinstance(c, Exclude):
        return c.definition
    out = (
        f"FOREIGN KEY ({_names(c.columns)}) REFERENCES {table_sql(c.ref_table)} "
        f"({_names(c.ref_columns)})"
    )
    if c.on_delete != "no action":
        out += f" ON DELETE {c.on_delete.upper()}"
    if c.on_update != "no action":
        out += f" ON UPDATE {c.on_update.upper()}"
    return out + _deferrable(c)


def constraint_kind(c: Constraint) -> str:
    return {
        PrimaryKey: "primary key", Unique: "unique", Check: "check", Exclude: "exclusion",
        ForeignKey: "foreign key",
    }[type(c)]


def index_sql(key: str, index: Index) -> str:
    """``CREATE [UNIQUE] INDEX ...`` for ``index`` on the table keyed ``key``."""
    out = "CREATE UNIQUE INDEX " if index.unique else "CREATE INDEX "
    out += f"{quote_ident(index.name)} ON {table_sql(key)} USING {index.method} "
    out += f"({', '.join(index.columns)})"
    if index.include:
        out += f" INCLUDE ({_names(index.include)})"
    if index.nulls_not_distinct:
        out += " NULLS NOT DISTINCT"
    if index.predicate is not None:
        out += f" WHERE {index.predicate}"
    return out


def alter_column(key: str, column: str) -> str:
    return f"ALTER TABLE {table_sql(key)} ALTER COLUMN {quote_ident(column)}"


def labels_sql(values: tuple[str, ...]) -> str:
    return ", ".join(quote_literal(v) for v in values)
