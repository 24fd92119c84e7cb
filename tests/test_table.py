"""Declarative tables and their DDL (API.md §1, §5 "Tables", §8 "Column factories").

A ``Table`` subclass declares a table; ``db.create_tables(...)`` creates it.
Every test here checks what the server actually holds, read from the live
catalog (``pg_catalog``) over a plain psycopg connection (``catalog``), or
what the server does with it (defaults filled, constraints enforced), never
the DDL text alone. Also: rows built in Python, ``__table__`` metadata, and
the :class:`pgbuild.SchemaError` a bad declaration raises.
"""

from __future__ import annotations

import enum
import uuid as uuidlib
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql as pg
from psycopg.rows import dict_row

from pgbuild import (
    Database,
    DatabaseError,
    IntegrityError,
    PgbuildError,
    SchemaError,
    Table,
    bigint,
    bigserial,
    boolean,
    bytea,
    char,
    check,
    cidr,
    date,
    double_precision,
    eq,
    foreign_key,
    gt,
    gte,
    index,
    inet,
    integer,
    interval,
    is_null,
    json,
    jsonb,
    like,
    lte,
    macaddr,
    numeric,
    pg_enum,
    primary_key,
    real,
    serial,
    smallint,
    sql,
    text,
    time,
    timestamp,
    unique,
    unique_index,
    uuid,
    varchar,
)
from pgbuild.ddl import create_all
from pgbuild.render import sql_text

# ------------------------------------------------------------------ the tables

mood = pg_enum("mood", ["sad", "ok", "happy"])
status = pg_enum("status", ["open", "closed"], schema="app")


class Weather(enum.Enum):
    SUNNY = "sunny"
    RAINY = "rainy"


weather = pg_enum("weather", Weather)


class Account(Table, name="accounts"):
    id = integer().primary_key()
    email = varchar(255, name="e_mail").not_null().unique()
    display = text("display_name")
    nickname = text()


class Everything(Table, name="everything"):
    """One column of every type, for the catalog's view of the types."""

    t_text = text()
    t_varchar = varchar(255)
    t_varchar_any = varchar()
    t_char = char(3)
    t_char_one = char()
    t_smallint = smallint()
    t_integer = integer()
    t_bigint = bigint()
    t_serial = serial()
    t_bigserial = bigserial()
    t_boolean = boolean()
    t_real = real()
    t_double = double_precision()
    t_numeric_ps = numeric(40, 10)
    t_numeric_p = numeric(12)
    t_numeric = numeric()
    t_date = date()
    t_time = time()
    t_timestamptz = timestamp()
    t_timestamp = timestamp(with_timezone=False)
    t_interval = interval()
    t_uuid = uuid()
    t_json = json()
    t_jsonb = jsonb()
    t_bytea = bytea()
    t_inet = inet()
    t_cidr = cidr()
    t_macaddr = macaddr()
    t_int_array = integer().array()
    t_text_grid = text().array(dimensions=2)
    t_enum = mood()
    t_enum_array = mood().array()
    t_python_enum = weather()
    t_schema_enum = status()


class Membership(Table, name="memberships"):
    org_id = integer()
    user_id = integer()
    role = text()

    __constraints__ = (primary_key(org_id, user_id),)


class Seat(Table, name="seats"):
    id = integer().primary_key()
    section = text()
    number = integer()
    holder = text()
    badge = text()

    __constraints__ = (
        unique(section, number),
        unique(holder, badge, name="seats_holder_badge_uq"),
    )


QUOTED = "it's a \"quote\" and a \\ backslash"
SETTINGS = {"theme": "dark", "sizes": [1, 2], "note": "it's"}


class Defaults(Table, name="defaults"):
    id = integer().primary_key()
    greeting = text().default(QUOTED)
    amount = integer().default(42)
    enabled = boolean().default(False)
    settings = jsonb().default(SETTINGS)
    ratio = numeric(5, 2).default(Decimal("0.25"))
    tags = text().array().default(["a", "b c"])
    feeling = mood().default("ok")
    sky = weather().default(Weather.RAINY)
    created_at = timestamp().default_now().not_null()
    token = uuid().default_sql(sql("gen_random_uuid()"))


class AlwaysIds(Table, name="always_ids"):
    id = integer().generated_always_as_identity().primary_key()
    note = text()


class DefaultIds(Table, name="default_ids"):
    id = bigint().generated_by_default_as_identity().primary_key()
    note = text()


class SerialIds(Table, name="serial_ids"):
    id = serial().primary_key()
    big = bigserial()
    note = text()


class Parent(Table, name="parents"):
    id = integer().primary_key()


class CascadeChild(Table, name="cascade_children"):
    id = integer().primary_key()
    parent_id = integer().references(lambda: Parent.id, on_delete="cascade", on_update="cascade")


class SetNullChild(Table, name="set_null_children"):
    id = integer().primary_key()
    parent_id = integer().references(lambda: Parent.id, on_delete="set null")


class RestrictChild(Table, name="restrict_children"):
    id = integer().primary_key()
    parent_id = integer().references(lambda: Parent.id, on_delete="restrict")


class Assignment(Table, name="assignments"):
    id = integer().primary_key()
    org_id = integer()
    user_id = integer()

    __constraints__ = (
        foreign_key(
            [org_id, user_id],
            references=lambda: [Membership.org_id, Membership.user_id],
            on_delete="cascade",
        ),
    )


class Product(Table, name="products"):
    id = integer().primary_key()
    qty = integer().check(lambda c: gte(c, 0))
    price = numeric(10, 2)

    __constraints__ = (check("positive_price", gt(price, 0)),)


class Document(Table, name="documents"):
    id = integer().primary_key()
    owner = text()
    title = text()
    slug = text()
    code = text()
    body = jsonb()
    deleted_at = timestamp()

    __indexes__ = (
        index("documents_owner_idx").on(owner),
        index("documents_owner_title_idx").on(owner, title),
        unique_index("documents_slug_idx").on(slug),
        unique_index("documents_live_title_idx").on(title).where(is_null(deleted_at)),
        index("documents_body_gin").using("gin").on(body),
        index("documents_code_hash").using("hash").on(code),
    )


class Ledger(Table, name="t", schema="app"):
    id = integer().primary_key()
    amount = integer()
    state = status()


TABLES: tuple[type[Table], ...] = (
    Account,
    Everything,
    Membership,
    Seat,
    Defaults,
    AlwaysIds,
    DefaultIds,
    SerialIds,
    Parent,
    CascadeChild,
    SetNullChild,
    RestrictChild,
    Assignment,
    Product,
    Document,
    Ledger,
)


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module", autouse=True)
def tables(db: Database) -> Iterator[None]:
    """The tables above, created once for this module."""
    db.create_tables(*TABLES)
    yield


@pytest.fixture(scope="module")
def raw(database_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A plain psycopg connection, to read the catalog without pgbuild."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture(autouse=True)
def empty(raw: psycopg.Connection[dict[str, Any]], tables: None) -> None:
    """Every test starts from empty tables and fresh sequences."""
    names = pg.SQL(", ").join(
        pg.Identifier(*filter(None, (t.__table__.schema, t.__table__.name))) for t in TABLES
    )
    raw.execute(pg.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(names))


class Catalog:
    """What the server's catalog says about a table (``schema.table``)."""

    def __init__(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        self.conn = conn

    def _rows(self, query: str, table: str, schema: str = "public") -> list[dict[str, Any]]:
        return self.conn.execute(query, {"schema": schema, "table": table}).fetchall()

    def columns(self, table: str, schema: str = "public") -> dict[str, dict[str, Any]]:
        """``{column: {type, not_null, identity, default}}`` in table order."""
        rows = self._rows(
            """
            SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
                   a.attnotnull AS not_null, a.attidentity::text AS identity,
                   pg_get_expr(d.adbin, d.adrelid) AS default
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE n.nspname = %(schema)s AND c.relname = %(table)s
              AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """,
            table,
            schema,
        )
        return {r.pop("name"): r for r in rows}

    def constraints(self, table: str, schema: str = "public") -> dict[str, dict[str, Any]]:
        """``{name: {type, columns, ref_table, ref_columns, on_delete, on_update}}``
        (``contype``: p, u, f, c; NOT NULL constraints left out)."""
        rows = self._rows(
            """
            SELECT con.conname AS name, con.contype::text AS type,
                   ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
                         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
                         ORDER BY k.ord)::text[] AS columns,
                   CASE WHEN con.confrelid <> 0 THEN con.confrelid::regclass::text END
                       AS ref_table,
                   ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
                         JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
                         ORDER BY k.ord)::text[] AS ref_columns,
                   con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update
            FROM pg_constraint con
            JOIN pg_class c ON c.oid = con.conrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %(schema)s AND c.relname = %(table)s AND con.contype <> 'n'
            """,
            table,
            schema,
        )
        return {r.pop("name"): r for r in rows}

    def indexes(self, table: str, schema: str = "public") -> dict[str, dict[str, Any]]:
        """``{name: {unique, method, columns, predicate}}``."""
        rows = self._rows(
            """
            SELECT i.relname AS name, x.indisunique AS unique, am.amname AS method,
                   ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true)
                         FROM generate_series(1, x.indnatts) k ORDER BY k)::text[] AS columns,
                   pg_get_expr(x.indpred, x.indrelid) AS predicate
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            JOIN pg_am am ON am.oid = i.relam
            WHERE n.nspname = %(schema)s AND t.relname = %(table)s
            """,
            table,
            schema,
        )
        return {r.pop("name"): r for r in rows}

    def enum_labels(self, name: str, schema: str = "public") -> list[str]:
        rows = self.conn.execute(
            """
            SELECT e.enumlabel AS label FROM pg_enum e
            JOIN pg_type t ON t.oid = e.enumtypid
            JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE n.nspname = %s AND t.typname = %s ORDER BY e.enumsortorder
            """,
            (schema, name),
        ).fetchall()
        return [r["label"] for r in rows]

    def tables_named(self, table: str) -> list[str]:
        """The schemas holding a table of that name."""
        rows = self.conn.execute(
            """
            SELECT n.nspname AS schema FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relname = %s AND c.relkind = 'r' ORDER BY 1
            """,
            (table,),
        ).fetchall()
        return [r["schema"] for r in rows]


@pytest.fixture(scope="module")
def catalog(raw: psycopg.Connection[dict[str, Any]]) -> Catalog:
    return Catalog(raw)


# ------------------------------------------------------------------ column names


def test_a_column_is_named_after_its_attribute_unless_given_a_name(catalog: Catalog) -> None:
    assert list(catalog.columns("accounts")) == ["id", "e_mail", "display_name", "nickname"]


def test_queries_address_a_renamed_column_by_its_attribute(
    db: Database, raw: psycopg.Connection[dict[str, Any]]
) -> None:
    row = db.insert(Account).values({"id": 1, "email": "a@b.c", "display": "Ann"}).returning().one()

    stored = raw.execute("SELECT e_mail, display_name FROM accounts").fetchall()
    assert (row.email, row.display) == ("a@b.c", "Ann")
    assert stored == [{"e_mail": "a@b.c", "display_name": "Ann"}]


# ------------------------------------------------------------------ types

DECLARED_TYPES = {
    "t_text": "text",
    "t_varchar": "character varying(255)",
    "t_varchar_any": "character varying",
    "t_char": "character(3)",
    "t_char_one": "character(1)",
    "t_smallint": "smallint",
    "t_integer": "integer",
    "t_bigint": "bigint",
    "t_serial": "integer",
    "t_bigserial": "bigint",
    "t_boolean": "boolean",
    "t_real": "real",
    "t_double": "double precision",
    "t_numeric_ps": "numeric(40,10)",
    "t_numeric_p": "numeric(12,0)",
    "t_numeric": "numeric",
    "t_date": "date",
    "t_time": "time without time zone",
    "t_timestamptz": "timestamp with time zone",
    "t_timestamp": "timestamp without time zone",
    "t_interval": "interval",
    "t_uuid": "uuid",
    "t_json": "json",
    "t_jsonb": "jsonb",
    "t_bytea": "bytea",
    "t_inet": "inet",
    "t_cidr": "cidr",
    "t_macaddr": "macaddr",
    "t_int_array": "integer[]",
    # PostgreSQL does not record an array's number of dimensions.
    "t_text_grid": "text[]",
    "t_enum": "mood",
    "t_enum_array": "mood[]",
    "t_python_enum": "weather",
    # An enum outside the search path is shown qualified.
    "t_schema_enum": "app.status",
}


@pytest.mark.parametrize(("column", "expected"), DECLARED_TYPES.items())
def test_a_column_is_created_with_its_declared_type(
    catalog: Catalog, column: str, expected: str
) -> None:
    assert catalog.columns("everything")[column]["type"] == expected


def test_every_column_of_a_table_is_created(catalog: Catalog) -> None:
    assert list(catalog.columns("everything")) == list(DECLARED_TYPES)


def test_an_enum_type_is_created_with_its_labels_in_order(catalog: Catalog) -> None:
    assert catalog.enum_labels("mood") == ["sad", "ok", "happy"]


def test_an_enum_from_a_python_enum_takes_the_member_values_as_labels(catalog: Catalog) -> None:
    assert catalog.enum_labels("weather") == ["sunny", "rainy"]


def test_an_enum_with_a_schema_is_created_in_that_schema(catalog: Catalog) -> None:
    assert catalog.enum_labels("status", schema="app") == ["open", "closed"]


# ------------------------------------------------------------------ NOT NULL


@pytest.mark.parametrize(
    ("table", "column", "not_null"),
    [
        ("accounts", "e_mail", True),  # not_null()
        ("accounts", "id", True),  # primary_key() implies NOT NULL
        ("accounts", "nickname", False),  # nullable by default
        ("always_ids", "id", True),  # identity implies NOT NULL
        ("serial_ids", "big", True),  # serial implies NOT NULL
        ("memberships", "org_id", True),  # a composite primary key implies NOT NULL
        ("memberships", "role", False),
    ],
)
def test_not_null_is_created_where_declared(
    catalog: Catalog, table: str, column: str, not_null: bool
) -> None:
    assert catalog.columns(table)[column]["not_null"] is not_null


def test_the_server_refuses_null_in_a_not_null_column(db: Database) -> None:
    with pytest.raises(IntegrityError) as error:
        db.insert(Defaults).values({"id": 1, "created_at": None}).execute()
    assert error.value.sqlstate == "23502"  # not_null_violation


# ------------------------------------------------------------------ primary keys


def test_a_primary_key_column_makes_the_primary_key_constraint(catalog: Catalog) -> None:
    pkey = catalog.constraints("accounts")["accounts_pkey"]
    assert (pkey["type"], pkey["columns"]) == ("p", ["id"])


def test_a_composite_primary_key_covers_its_columns_in_order(catalog: Catalog) -> None:
    pkey = catalog.constraints("memberships")["memberships_pkey"]
    assert (pkey["type"], pkey["columns"]) == ("p", ["org_id", "user_id"])


def test_a_composite_primary_key_refuses_a_repeated_pair(db: Database) -> None:
    pairs = [{"org_id": 1, "user_id": 1}, {"org_id": 1, "user_id": 2}]
    db.insert(Membership).values(pairs).execute()

    with pytest.raises(IntegrityError) as error:
        db.insert(Membership).values({"org_id": 1, "user_id": 2}).execute()
    assert error.value.constraint == "memberships_pkey"


# ------------------------------------------------------------------ unique


def test_a_unique_column_makes_a_unique_constraint_named_like_postgres(catalog: Catalog) -> None:
    key = catalog.constraints("accounts")["accounts_e_mail_key"]
    assert (key["type"], key["columns"]) == ("u", ["e_mail"])


def test_a_unique_column_refuses_a_repeated_value(db: Database) -> None:
    db.insert(Account).values({"id": 1, "email": "a@b.c"}).execute()

    with pytest.raises(IntegrityError) as error:
        db.insert(Account).values({"id": 2, "email": "a@b.c"}).execute()
    assert error.value.constraint == "accounts_e_mail_key"


def test_a_multi_column_unique_constraint_covers_its_columns(catalog: Catalog) -> None:
    constraints = catalog.constraints("seats")
    assert constraints["seats_section_number_key"]["columns"] == ["section", "number"]
    assert constraints["seats_holder_badge_uq"]["columns"] == ["holder", "badge"]
    assert {c["type"] for n, c in constraints.items() if n != "seats_pkey"} == {"u"}


def test_a_multi_column_unique_constraint_refuses_only_a_repeated_combination(
    db: Database,
) -> None:
    db.insert(Seat).values([
        {"id": 1, "section": "A", "number": 1},
        {"id": 2, "section": "A", "number": 2},
        {"id": 3, "section": "B", "number": 1},
    ]).execute()

    with pytest.raises(IntegrityError) as error:
        db.insert(Seat).values({"id": 4, "section": "B", "number": 1}).execute()
    assert error.value.constraint == "seats_section_number_key"


# ------------------------------------------------------------------ defaults

LITERAL_DEFAULTS = {
    "greeting": QUOTED,
    "amount": 42,
    "enabled": False,
    "settings": SETTINGS,
    "ratio": Decimal("0.25"),
    "tags": ["a", "b c"],
    "feeling": "ok",
    "sky": Weather.RAINY,
}


@pytest.mark.parametrize(("column", "expected"), LITERAL_DEFAULTS.items())
def test_a_literal_default_fills_a_column_left_out_of_an_insert(
    db: Database, column: str, expected: Any
) -> None:
    row = db.insert(Defaults).values({"id": 1}).returning().one()

    assert getattr(row, column) == expected


def test_a_literal_default_with_a_percent_sign_fills_the_column(db: Database) -> None:
    class Discount(Table, name="discounts"):
        id = integer().primary_key()
        label = text().default("100% off")

    db.create_tables(Discount)

    assert db.insert(Discount).values({"id": 1}).returning().one().label == "100% off"


def test_default_now_fills_the_time_of_the_insert(db: Database) -> None:
    before = db.execute(sql("SELECT clock_timestamp()")).scalar()
    row = db.insert(Defaults).values({"id": 1}).returning().one()
    after = db.execute(sql("SELECT clock_timestamp()")).scalar()

    assert isinstance(row.created_at, datetime)
    assert before <= row.created_at <= after


def test_default_sql_fills_the_column_with_the_expression_per_row(db: Database) -> None:
    rows = db.insert(Defaults).values([{"id": 1}, {"id": 2}]).returning().all()

    tokens = [r.token for r in rows]
    assert all(isinstance(t, uuidlib.UUID) and t.version == 4 for t in tokens)
    assert tokens[0] != tokens[1]


def test_a_given_value_wins_over_the_default(db: Database) -> None:
    row = db.insert(Defaults).values({"id": 1, "amount": 7}).returning().one()

    assert row.amount == 7


# ------------------------------------------------------------------ identity and serial


def test_generated_always_as_identity_is_an_always_identity_column(catalog: Catalog) -> None:
    assert catalog.columns("always_ids")["id"]["identity"] == "a"


def test_generated_always_as_identity_numbers_rows_from_one(db: Database) -> None:
    rows = db.insert(AlwaysIds).values([{"note": "a"}, {"note": "b"}]).returning().all()
    later = db.insert(AlwaysIds).values({"note": "c"}).returning().one()

    assert [r.id for r in rows] + [later.id] == [1, 2, 3]


def test_generated_always_as_identity_refuses_an_explicit_id(db: Database) -> None:
    with pytest.raises(DatabaseError) as error:
        db.insert(AlwaysIds).values({"id": 5, "note": "a"}).execute()
    assert error.value.sqlstate == "428C9"  # generated_always


def test_overriding_system_value_inserts_an_explicit_id_into_an_always_identity(
    db: Database,
) -> None:
    row = (
        db.insert(AlwaysIds)
        .values({"id": 5000, "note": "imported"})
        .overriding_system_value()
        .returning()
        .one()
    )
    assert (row.id, row.note) == (5000, "imported")
    assert db.select(AlwaysIds.note).from_(AlwaysIds).where(eq(AlwaysIds.id, 5000)).all() == [
        ("imported",)
    ]


def test_generated_by_default_as_identity_is_a_by_default_identity_column(
    catalog: Catalog,
) -> None:
    assert catalog.columns("default_ids")["id"]["identity"] == "d"


def test_generated_by_default_as_identity_numbers_rows_and_accepts_an_explicit_id(
    db: Database,
) -> None:
    numbered = db.insert(DefaultIds).values([{"note": "a"}, {"note": "b"}]).returning().all()
    explicit = db.insert(DefaultIds).values({"id": 100, "note": "c"}).returning().one()

    assert [r.id for r in numbered] == [1, 2]
    assert explicit.id == 100


def test_serial_columns_default_to_their_sequence(catalog: Catalog) -> None:
    columns = catalog.columns("serial_ids")
    assert columns["id"]["default"] == "nextval('serial_ids_id_seq'::regclass)"
    assert columns["big"]["default"] == "nextval('serial_ids_big_seq'::regclass)"


def test_serial_and_bigserial_number_rows_from_one(db: Database) -> None:
    rows = db.insert(SerialIds).values([{"note": "a"}, {"note": "b"}]).returning().all()

    assert [(r.id, r.big) for r in rows] == [(1, 1), (2, 2)]


# ------------------------------------------------------------------ foreign keys


@pytest.mark.parametrize(
    ("table", "on_delete", "on_update"),
    [
        # pg_constraint action codes: c cascade, n set null, r restrict, a no action
        ("cascade_children", "c", "c"),
        ("set_null_children", "n", "a"),
        ("restrict_children", "r", "a"),
    ],
)
def test_references_makes_a_foreign_key_with_its_actions(
    catalog: Catalog, table: str, on_delete: str, on_update: str
) -> None:
    fkey = catalog.constraints(table)[f"{table}_parent_id_fkey"]
    assert fkey == {
        "type": "f",
        "columns": ["parent_id"],
        "ref_table": "parents",
        "ref_columns": ["id"],
        "on_delete": on_delete,
        "on_update": on_update,
    }


def test_a_foreign_key_refuses_a_row_without_its_parent(db: Database) -> None:
    with pytest.raises(IntegrityError) as error:
        db.insert(CascadeChild).values({"id": 1, "parent_id": 404}).execute()
    assert error.value.constraint == "cascade_children_parent_id_fkey"


def test_on_delete_cascade_deletes_the_children_with_their_parent(db: Database) -> None:
    db.insert(Parent).values([{"id": 1}, {"id": 2}]).execute()
    children = [{"id": 10, "parent_id": 1}, {"id": 20, "parent_id": 2}]
    db.insert(CascadeChild).values(children).execute()

    db.delete(Parent).where(eq(Parent.id, 1)).execute()

    assert [c.id for c in db.select().from_(CascadeChild).all()] == [20]


def test_on_update_cascade_follows_the_parent_to_its_new_key(db: Database) -> None:
    db.insert(Parent).values({"id": 1}).execute()
    db.insert(CascadeChild).values({"id": 10, "parent_id": 1}).execute()

    db.update(Parent).set({"id": 2}).where(eq(Parent.id, 1)).execute()

    assert db.select().from_(CascadeChild).one().parent_id == 2


def test_on_delete_set_null_keeps_the_children_without_a_parent(db: Database) -> None:
    db.insert(Parent).values({"id": 1}).execute()
    db.insert(SetNullChild).values({"id": 10, "parent_id": 1}).execute()

    db.delete(Parent).where(eq(Parent.id, 1)).execute()

    assert db.select().from_(SetNullChild).one() == SetNullChild(id=10, parent_id=None)


def test_on_delete_restrict_refuses_to_delete_a_parent_with_children(db: Database) -> None:
    db.insert(Parent).values({"id": 1}).execute()
    db.insert(RestrictChild).values({"id": 10, "parent_id": 1}).execute()

    with pytest.raises(IntegrityError) as error:
        db.delete(Parent).where(eq(Parent.id, 1)).execute()
    assert error.value.constraint == "restrict_children_parent_id_fkey"
    assert db.count(Parent) == 1


def test_a_composite_foreign_key_references_the_columns_in_order(catalog: Catalog) -> None:
    fkey = catalog.constraints("assignments")["assignments_org_id_user_id_fkey"]
    assert (fkey["type"], fkey["columns"], fkey["ref_table"], fkey["ref_columns"]) == (
        "f",
        ["org_id", "user_id"],
        "memberships",
        ["org_id", "user_id"],
    )
    assert fkey["on_delete"] == "c"


def test_a_composite_foreign_key_refuses_a_pair_its_parent_lacks(db: Database) -> None:
    pairs = [{"org_id": 1, "user_id": 1}, {"org_id": 2, "user_id": 2}]
    db.insert(Membership).values(pairs).execute()

    with pytest.raises(IntegrityError) as error:
        db.insert(Assignment).values({"id": 1, "org_id": 1, "user_id": 2}).execute()
    assert error.value.constraint == "assignments_org_id_user_id_fkey"


# ------------------------------------------------------------------ checks


def test_column_and_table_checks_are_check_constraints(catalog: Catalog) -> None:
    constraints = catalog.constraints("products")
    assert constraints["products_qty_check"]["type"] == "c"
    assert constraints["products_qty_check"]["columns"] == ["qty"]
    assert constraints["positive_price"]["type"] == "c"
    assert constraints["positive_price"]["columns"] == ["price"]


def test_a_column_check_refuses_a_violating_row_naming_the_constraint(db: Database) -> None:
    with pytest.raises(IntegrityError) as error:
        db.insert(Product).values({"id": 1, "qty": -1, "price": Decimal("1.00")}).execute()
    assert error.value.constraint == "products_qty_check"


def test_a_table_check_refuses_a_violating_row_naming_the_constraint(db: Database) -> None:
    with pytest.raises(IntegrityError) as error:
        db.insert(Product).values({"id": 1, "qty": 1, "price": Decimal("0.00")}).execute()
    assert error.value.constraint == "positive_price"


def test_checks_accept_a_row_that_satisfies_them(db: Database) -> None:
    row = db.insert(Product).values({"id": 1, "qty": 0, "price": Decimal("0.01")}).returning().one()

    assert row == Product(id=1, qty=0, price=Decimal("0.01"))


def test_two_checks_on_one_column_are_both_enforced(db: Database) -> None:
    class Percent(Table, name="percents"):
        id = integer().primary_key()
        value = integer().check(lambda c: gte(c, 0)).check(lambda c: lte(c, 100))

    db.create_tables(Percent)

    for bad in (-1, 101):
        with pytest.raises(IntegrityError):
            db.insert(Percent).values({"id": 1, "value": bad}).execute()


def test_a_check_with_a_percent_sign_in_a_value_is_created_and_enforced(db: Database) -> None:
    class Contact(Table, name="contacts"):
        email = text()

        __constraints__ = (check("contacts_email_at", like(email, "%@%")),)

    db.create_tables(Contact)

    db.insert(Contact).values({"email": "a@b.c"}).execute()
    with pytest.raises(IntegrityError) as error:
        db.insert(Contact).values({"email": "nobody"}).execute()
    assert error.value.constraint == "contacts_email_at"


def test_constraint_names_derived_from_a_long_table_name_do_not_collide(
    db: Database, catalog: Catalog
) -> None:
    name = "t" * 60

    class Long(Table, name=name):
        # t...t_code_first_key and t...t_code_second_key, cut at 63 bytes, are equal
        code_first = integer().unique()
        code_second = integer().unique()

    db.create_tables(Long)

    kinds = [c["type"] for c in catalog.constraints(name).values()]
    assert kinds == ["u", "u"]


# ------------------------------------------------------------------ indexes


def test_an_index_on_one_column_is_a_plain_btree_index(catalog: Catalog) -> None:
    assert catalog.indexes("documents")["documents_owner_idx"] == {
        "unique": False,
        "method": "btree",
        "columns": ["owner"],
        "predicate": None,
    }


def test_a_composite_index_covers_its_columns_in_order(catalog: Catalog) -> None:
    assert catalog.indexes("documents")["documents_owner_title_idx"]["columns"] == [
        "owner",
        "title",
    ]


def test_a_unique_index_is_unique(catalog: Catalog) -> None:
    found = catalog.indexes("documents")["documents_slug_idx"]
    assert (found["unique"], found["columns"]) == (True, ["slug"])


def test_a_partial_index_keeps_its_condition(catalog: Catalog) -> None:
    found = catalog.indexes("documents")["documents_live_title_idx"]
    assert found["predicate"] == "(deleted_at IS NULL)"


def test_a_partial_unique_index_applies_only_to_rows_meeting_its_condition(
    db: Database,
) -> None:
    gone = datetime(2024, 1, 1).astimezone()
    db.insert(Document).values([
        {"id": 1, "title": "Notes", "deleted_at": gone},
        {"id": 2, "title": "Notes", "deleted_at": gone},
        {"id": 3, "title": "Notes"},
    ]).execute()

    with pytest.raises(IntegrityError) as error:
        db.insert(Document).values({"id": 4, "title": "Notes"}).execute()
    assert error.value.constraint == "documents_live_title_idx"


def test_a_partial_index_condition_with_a_percent_sign_is_created(
    db: Database, catalog: Catalog
) -> None:
    class Mail(Table, name="mails"):
        address = text()

        __indexes__ = (index("mails_example_idx").on(address).where(like(address, "%@ex%")),)

    db.create_tables(Mail)

    assert catalog.indexes("mails")["mails_example_idx"]["predicate"] == (
        "(address ~~ '%@ex%'::text)"
    )


@pytest.mark.parametrize(
    ("name", "method", "column"),
    [("documents_body_gin", "gin", "body"), ("documents_code_hash", "hash", "code")],
)
def test_an_index_uses_the_method_it_names(
    catalog: Catalog, name: str, method: str, column: str
) -> None:
    found = catalog.indexes("documents")[name]
    assert (found["method"], found["columns"]) == (method, [column])


# ------------------------------------------------------------------ schemas


def test_a_table_with_a_schema_is_created_in_that_schema(catalog: Catalog) -> None:
    assert catalog.tables_named("t") == ["app"]


def test_a_table_in_a_schema_can_be_inserted_selected_updated_and_deleted(db: Database) -> None:
    db.insert(Ledger).values([{"id": 1, "amount": 10}, {"id": 2, "amount": 20}]).execute()
    db.update(Ledger).set({"amount": 11, "state": "closed"}).where(eq(Ledger.id, 1)).execute()
    db.delete(Ledger).where(eq(Ledger.id, 2)).execute()

    assert db.select().from_(Ledger).all() == [Ledger(id=1, amount=11, state="closed")]


# ------------------------------------------------------------------ rows built in Python


def test_a_row_takes_its_values_as_keyword_attributes() -> None:
    row = Account(id=1, email="a@b.c")

    assert (row.id, row.email) == (1, "a@b.c")


def test_rows_of_a_table_are_equal_when_their_values_are() -> None:
    assert Account(id=1, email="a@b.c") == Account(id=1, email="a@b.c")
    assert Account(id=1, email="a@b.c") != Account(id=2, email="a@b.c")


def test_rows_of_different_tables_are_never_equal() -> None:
    assert Parent(id=1) != CascadeChild(id=1)


def test_a_row_repr_names_the_table_and_its_columns() -> None:
    assert repr(Account(id=1, email="a@b.c")) == "Account(id=1, email='a@b.c')"


def test_a_row_for_an_unknown_column_is_an_error_naming_it() -> None:
    with pytest.raises((TypeError, PgbuildError), match="nick_name"):
        Account(id=1, nick_name="x")  # type: ignore[call-arg]


def test_a_row_read_back_equals_the_row_that_was_inserted(db: Database) -> None:
    db.insert(Account).values(Account(id=1, email="a@b.c", display="Ann")).execute()

    assert db.select().from_(Account).one() == Account(
        id=1, email="a@b.c", display="Ann", nickname=None
    )


# ------------------------------------------------------------------ __table__


def test_table_metadata_names_the_table_and_its_columns_in_order() -> None:
    meta = Account.__table__

    assert (meta.name, meta.schema) == ("accounts", None)
    assert [(c.attr, c.db_name) for c in meta.columns] == [
        ("id", "id"),
        ("email", "e_mail"),
        ("display", "display_name"),
        ("nickname", "nickname"),
    ]
    assert meta.by_attr["email"] is Account.email


def test_table_metadata_knows_the_primary_key_single_or_composite() -> None:
    assert Account.__table__.primary_key == (Account.id,)
    assert Membership.__table__.primary_key == (Membership.org_id, Membership.user_id)


def test_table_metadata_keeps_the_schema() -> None:
    assert (Ledger.__table__.schema, Ledger.__table__.name) == ("app", "t")


def test_a_table_without_a_name_is_named_after_its_class_in_lower_case() -> None:
    class Widget(Table):
        id = integer()

    assert Widget.__table__.name == "widget"


# ------------------------------------------------------------------ schema errors


def test_a_table_without_columns_is_an_error_naming_it() -> None:
    with pytest.raises(SchemaError, match="nothing_here"):

        class Nothing(Table, name="nothing_here"):
            pass


def test_two_columns_with_one_database_name_is_an_error_naming_them() -> None:
    with pytest.raises(SchemaError, match=r"'first'.*'second'"):

        class Clash(Table, name="clash"):
            first = text("same")
            second = text("same")


def test_a_63_byte_name_is_accepted() -> None:
    class Longest(Table, name="t" * 63):
        x = integer("é" * 31 + "x")  # 63 bytes in UTF-8

    assert Longest.__table__.name == "t" * 63


@pytest.mark.parametrize(
    "declare",
    [
        pytest.param(lambda: type("T", (Table,), {"x": integer()}, name="t" * 64), id="table"),
        pytest.param(
            lambda: type("T", (Table,), {"x": integer("é" * 32)}, name="t"), id="column (bytes)"
        ),
        pytest.param(
            lambda: type("T", (Table,), {"x": integer()}, name="t", schema="s" * 64), id="schema"
        ),
        pytest.param(lambda: index("i" * 64), id="index"),
        pytest.param(lambda: check("c" * 64, sql("true")), id="check"),
    ],
)
def test_a_name_over_63_bytes_is_an_error_naming_it(declare: Any) -> None:
    with pytest.raises(SchemaError, match="longer than 63 bytes"):
        declare()


def test_an_empty_table_name_is_an_error() -> None:
    with pytest.raises(SchemaError):

        class Blank(Table, name=""):
            x = integer()


def test_an_empty_column_name_is_an_error_naming_the_column() -> None:
    with pytest.raises(SchemaError, match="nameless"):

        class Blank(Table, name="blank"):
            nameless = integer("")


def test_one_column_object_in_two_tables_is_an_error_naming_it() -> None:
    shared = text()

    class First(Table, name="first"):
        code = shared

    with pytest.raises(SchemaError, match="code"):

        class Second(Table, name="second"):
            code = shared


def test_an_unknown_foreign_key_action_is_an_error_naming_it() -> None:
    with pytest.raises(SchemaError, match="explode"):
        integer().references(lambda: Parent.id, on_delete="explode")  # type: ignore[arg-type]


def test_an_unknown_composite_foreign_key_action_is_an_error_naming_it() -> None:
    with pytest.raises(SchemaError, match="explode"):

        class Bad(Table, name="bad_fk"):
            org_id = integer()
            user_id = integer()

            __constraints__ = (
                foreign_key(
                    [org_id, user_id],
                    references=lambda: [Membership.org_id, Membership.user_id],
                    on_update="explode",  # type: ignore[arg-type]
                ),
            )


# ------------------------------------------------------------------ DDL


class FeatureParent(Table, name="feature_parents", schema="ddl_check"):
    org = integer()
    code = text()
    number = serial().unique()
    level = pg_enum("level", ["low", "high"], schema="ddl_check")().array()

    __constraints__ = (primary_key(org, code),)


class FeatureChild(Table, name="feature_children", schema="ddl_check"):
    id = bigint().generated_always_as_identity().primary_key()
    serial_no = serial()
    other_id = integer().generated_by_default_as_identity()
    org = integer().not_null()
    code = text()
    parent_number = integer().references(lambda: FeatureParent.number, on_delete="set null")
    email = varchar(255, name="e_mail").not_null().unique()
    greeting = text().default("it's")
    meta = jsonb().default({"a": [1, "b"]})
    created_at = timestamp().default_now()
    token = uuid().default_sql(sql("gen_random_uuid()"))
    qty = integer().check(lambda c: gte(c, 0))
    deleted_at = timestamp()

    __indexes__ = (
        index("feature_children_org_idx").on(org, code),
        unique_index("feature_children_live_idx").on(email).where(is_null(deleted_at)),
        index("feature_children_meta_gin").using("gin").on(meta),
        index("feature_children_code_hash").using("hash").on(code),
    )
    __constraints__ = (
        unique(org, qty),
        check("feature_children_org_positive", gt(org, 0)),
        foreign_key(
            [org, code],
            references=lambda: [FeatureParent.org, FeatureParent.code],
            on_delete="cascade",
            on_update="cascade",
        ),
    )


def test_every_ddl_statement_for_every_feature_executes_on_the_server(database_url: str) -> None:
    statements = create_all([FeatureParent, FeatureChild])

    with psycopg.connect(database_url) as conn:  # one transaction, rolled back
        for statement in statements:
            conn.execute(statement)
        created = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'ddl_check' AND c.relkind IN ('r', 'i')"
        ).fetchone()
        conn.rollback()

    # two tables, two primary keys, two unique columns, one unique pair, four indexes
    assert created == (11,)


# ------------------------------------------------------------------ hostile names

HOSTILE_TABLE = 'we"ird; ta%ble ü'


class Hostile(Table, name=HOSTILE_TABLE):
    id = integer('i"d; %s').primary_key()
    value = text('va l%ue ☃"')

    __indexes__ = (index('ho"stile %s idx').on(value),)


@pytest.fixture(scope="module")
def hostile(db: Database) -> type[Hostile]:
    db.create_tables(Hostile)
    return Hostile


@pytest.fixture
def hostile_rows(db: Database, hostile: type[Hostile]) -> type[Hostile]:
    db.delete(Hostile).execute()
    db.insert(Hostile).values([{"id": 1, "value": "one"}, {"id": 2, "value": "two"}]).execute()
    return hostile


def test_hostile_names_are_created_verbatim(hostile: type[Hostile], catalog: Catalog) -> None:
    assert list(catalog.columns(HOSTILE_TABLE)) == ['i"d; %s', 'va l%ue ☃"']
    assert set(catalog.indexes(HOSTILE_TABLE)) == {f"{HOSTILE_TABLE}_pkey", 'ho"stile %s idx'}


def test_hostile_names_work_in_insert(db: Database, hostile: type[Hostile]) -> None:
    db.delete(Hostile).execute()

    row = db.insert(Hostile).values({"id": 7, "value": "%s"}).returning().one()

    assert row == Hostile(id=7, value="%s")


def test_hostile_names_work_in_select(db: Database, hostile_rows: type[Hostile]) -> None:
    assert db.select().from_(Hostile).where(eq(Hostile.value, "two")).all() == [
        Hostile(id=2, value="two")
    ]


def test_hostile_names_work_in_update(db: Database, hostile_rows: type[Hostile]) -> None:
    db.update(Hostile).set({"value": "uno"}).where(eq(Hostile.id, 1)).execute()

    assert db.select(Hostile.value).from_(Hostile).where(eq(Hostile.id, 1)).all() == [("uno",)]


def test_hostile_names_work_in_delete(db: Database, hostile_rows: type[Hostile]) -> None:
    assert db.delete(Hostile).where(eq(Hostile.id, 1)).execute() == 1

    assert [r.id for r in db.select().from_(Hostile).all()] == [2]


class PercentNames(Table, name="ddl 100% odd"):
    id = integer("id %s").primary_key()


def test_ddl_statements_for_names_with_percent_signs_create_them_verbatim(
    database_url: str,
) -> None:
    # pgbuild's statements are %-escaped like every statement it renders: they run
    # with a parameter list, and sql_text() gives the plain text to print or save.
    for run in ("with params", "as text"):
        with psycopg.connect(database_url) as conn:  # one transaction, rolled back
            for statement in create_all([PercentNames]):
                if run == "with params":
                    conn.execute(statement, ())
                else:
                    conn.execute(sql_text(statement).encode())
            created = conn.execute(
                "SELECT c.relname, a.attname FROM pg_attribute a"
                " JOIN pg_class c ON c.oid = a.attrelid"
                " WHERE c.relname LIKE 'ddl 100%%' AND a.attnum > 0 ORDER BY 1"
            ).fetchall()
            conn.rollback()
        assert created == [("ddl 100% odd", "id %s"), ("ddl 100% odd_pkey", "id %s")], run


def test_enum_names_and_labels_are_checked_like_identifiers() -> None:
    with pytest.raises(SchemaError, match="enum"):
        pg_enum("", ["a"])
    with pytest.raises(SchemaError, match="longer than 63 bytes"):
        pg_enum("e" * 64, ["a"])
    with pytest.raises(SchemaError, match="label of enum short"):
        pg_enum("short", ["ok", "x" * 64])
