"""Declared tables and the live database give the same model.

The key property of the migrations: ``from_tables(T)`` (no server) equals
``introspect(conn)`` once ``T`` is created with pgbuild's DDL, so that
nothing shows up as a change that is not one. Checked for the guide's
schema, for tables using every column type, modifier, default, constraint
and index kind pgbuild declares, and (hypothesis) for random check
constraints and partial indexes built with pgbuild's operators.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schema as guide
import tests.migrate.test_introspect as this_module
from pgbuild import (
    Table,
    alias,
    and_,
    between,
    bigserial,
    boolean,
    bytea,
    char,
    check,
    double_precision,
    eq,
    foreign_key,
    gt,
    gte,
    ilike,
    in_,
    index,
    integer,
    interval,
    is_not_null,
    is_null,
    jsonb,
    like,
    lt,
    lte,
    ne,
    not_,
    not_between,
    not_ilike,
    not_in,
    not_like,
    numeric,
    or_,
    pg_enum,
    primary_key,
    real,
    serial,
    smallint,
    sql,
    text,
    timestamp,
    unique,
    unique_index,
    uuid,
    varchar,
)
from pgbuild import (
    date as date_col,
)
from pgbuild.ddl import create_all
from pgbuild.migrate.declared import find_extensions, find_tables, from_tables
from pgbuild.migrate.introspect import introspect
from pgbuild.migrate.model import Schema
from pgbuild.migrate.model import Table as TableModel
from pgbuild.render import sql_text
from tests.migrate.test_model import reset, scratch_connection
from tests.test_column_features import Counters, Docs, Handles
from tests.test_column_features import Items as VectorItems
from tests.test_table import TABLES as TABLE_TESTS

# ------------------------------------------------------------------ more tables

level_type = pg_enum("level", ["low", "mid", "high"], schema="billing")
tone_type = pg_enum("tone", ["dry", "warm"])


class Plan(Table, name="plans", schema="billing"):
    id = serial().primary_key()
    code = varchar(20).not_null().unique()
    level = level_type().default("mid")
    levels = level_type().array()
    price = numeric(12).check(lambda c: gte(c, 0))


class Subscription(Table, name="Subscriptions"):
    """Mixed case and keyword names, a cross-schema composite foreign key."""

    user = text("user").not_null()
    order = integer("order").not_null()
    plan_id = integer().references(lambda: Plan.id, on_delete="set null", on_update="cascade")
    tone = tone_type().default("warm").not_null()
    tones = tone_type().array().default(["dry"])
    started = date_col().default(date(2024, 2, 29))
    span = interval().default(timedelta(days=-1, seconds=5))
    token = uuid().default(UUID(int=10))
    blob = bytea().default(b"\x00ab'")
    ratio = real().default(1.5)
    big = double_precision().default(1e20)
    small = smallint().default(-7)
    amount = numeric(10, 2).default(Decimal("-0.50"))
    at = timestamp(with_timezone=False).default(datetime(2024, 1, 2, 3, 4, 5))
    at_tz = timestamp().default(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
    flag = boolean().default(True)
    initial = char(2).default("ab")
    note = text().default("50% off, 'quoted' \\ and \"double\"")

    __constraints__ = (
        primary_key(user, order),
        unique(user, plan_id, name="one plan per user"),
        check("sane order", and_(gt(order, 0), lt(order, 1000))),
        check("tone_or_note", or_(eq(tone, "dry"), is_not_null(note), not_(is_null(flag)))),
        check("levels", in_(small, [1, 2, 3])),
    )
    __indexes__ = (
        index("subs_lower_user").on(sql("lower({u})", u=user)),
        index("subs_started").on(started, order).where(between(order, 1, 10)),
        unique_index("subs_note").on(note).where(like(note, "%x%")),
    )


class Usage(Table, name="usage", schema="billing"):
    id = bigserial().primary_key()
    user = text("user")
    order = integer("order")
    plan_id = integer().references(lambda: Plan.id)

    __constraints__ = (
        foreign_key([user, order], references=lambda: [Subscription.user, Subscription.order],
                    on_delete="cascade"),
    )


inviter = alias(Subscription, "inviter")

EXTRA = (Plan, Subscription, Usage)

FEATURES = (Docs, Counters, Handles, VectorItems)

GROUPS = {
    "guide": guide.TABLES,
    "test_table": TABLE_TESTS,
    "extra": EXTRA,
    # generated columns, identity options, citext/ltree/vector (extensions),
    # expression, operator-class and ordered index items, NULLS NOT DISTINCT
    "column_features": FEATURES,
}


@pytest.fixture(scope="module")
def conn(server_url: str) -> Iterator[psycopg.Connection[Any]]:
    with scratch_connection(server_url, "introspect") as c:
        yield c


def create(conn: psycopg.Connection[Any], tables: tuple[type[Table], ...]) -> None:
    reset(conn)
    for statement in create_all(tables):
        conn.execute(sql_text(statement))


def describe_difference(declared: Schema, live: Schema) -> str:
    """Which tables and parts differ, for a readable assertion message."""
    lines = []
    if declared.schemas != live.schemas or declared.enums != live.enums:
        lines.append(f"schemas/enums: {declared.schemas} {declared.enums} != {live.schemas} "
                     f"{live.enums}")
    for key in sorted(set(declared.tables) | set(live.tables)):
        d, lv = declared.tables.get(key), live.tables.get(key)
        if d == lv:
            continue
        if d is None or lv is None:
            lines.append(f"table {key}: {d} != {lv}")
            continue
        for part in ("primary_key", "foreign_keys", "uniques", "checks", "indexes"):
            if getattr(d, part) != getattr(lv, part):
                lines.append(f"{key}.{part}: {getattr(d, part)}\n  != {getattr(lv, part)}")
        for col in d.columns:
            if col != lv.column(col.name):
                lines.append(f"{key}.{col.name}: {col}\n  != {lv.column(col.name)}")
    return "\n".join(lines)


@pytest.mark.parametrize("group", GROUPS)
def test_declared_tables_introspect_as_declared(conn: psycopg.Connection[Any], group: str) -> None:
    tables = GROUPS[group]
    create(conn, tables)
    declared, live = from_tables(tables), introspect(conn)
    assert declared == live, describe_difference(declared, live)


def test_all_groups_at_once(conn: psycopg.Connection[Any]) -> None:
    tables = (*guide.TABLES, *TABLE_TESTS, *EXTRA, *FEATURES)
    create(conn, tables)
    assert from_tables(tables) == introspect(conn)


def test_what_the_model_holds(conn: psycopg.Connection[Any]) -> None:
    create(conn, EXTRA)
    live = introspect(conn)
    plans = live.tables["billing.plans"]
    plan_id, levels = plans.column("id"), plans.column("levels")
    assert plan_id is not None and levels is not None
    assert (plan_id.type, plan_id.not_null) == ("integer", True)
    assert plan_id.default == "nextval('billing.plans_id_seq'::regclass)"
    assert levels.type == "billing.level[]"
    assert live.enums["billing.level"].values == ("low", "mid", "high")
    subs = live.tables["Subscriptions"]
    assert subs.sql_name == '"Subscriptions"'
    assert subs.primary_key is not None and subs.primary_key.columns == ("user", "order")
    fk = {f.name: f for f in live.tables["billing.usage"].foreign_keys}["usage_user_order_fkey"]
    assert (fk.ref_table, fk.ref_columns, fk.on_delete) == (
        "Subscriptions", ("user", "order"), "cascade")
    assert [c.name for c in subs.checks] == ["levels", "sane order", "tone_or_note"]
    assert {i.name: i.unique for i in subs.indexes} == {
        "subs_lower_user": False, "subs_started": False, "subs_note": True}
    assert live.schemas == {"public", "billing"}


def test_column_features_in_the_model(conn: psycopg.Connection[Any]) -> None:
    create(conn, FEATURES)
    live = introspect(conn)
    assert live.extensions == {"citext", "ltree", "vector"}
    docs, counters = live.tables["feat_docs"], live.tables["feat_counters"]
    full_name, ident = docs.column("full_name"), counters.column("id")
    assert full_name is not None and ident is not None
    assert full_name.generated == "((first || ' '::text) || last)"
    assert (ident.identity, ident.identity_start, ident.identity_increment) == (
        "by default", 100, 10)
    items = {i.name: i.columns for i in docs.indexes}
    assert items["feat_docs_meta_gin"] == ("meta jsonb_path_ops",)
    assert items["feat_docs_updated"] == ("updated_at DESC NULLS LAST",)
    assert live.tables["feat_handles"].uniques[0].nulls_not_distinct
    assert live.tables["feat_items"].column("embedding").type == "vector(3)"  # type: ignore[union-attr]


def test_introspection_of_some_schemas(conn: psycopg.Connection[Any]) -> None:
    create(conn, EXTRA)
    billing = introspect(conn, schemas=["billing"])
    assert billing.schemas == {"billing"}
    assert set(billing.tables) == {"billing.plans", "billing.usage"}
    assert set(billing.enums) == {"billing.level"}
    assert introspect(conn, schemas=["nope"]) == Schema()


def test_introspection_leaves_the_connection_as_it_was(server_url: str,
                                                       conn: psycopg.Connection[Any]) -> None:
    create(conn, EXTRA)
    expected = introspect(conn)
    url = conn.info.dsn
    with psycopg.connect(url) as other:
        other.execute("SET search_path = billing, public")
        assert introspect(other) == expected
        assert other.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        # Types are named as seen from public, whatever the session's path.
        assert other.execute("SHOW search_path").fetchone() == ("billing, public",)
        other.execute("CREATE TABLE billing.extra (id integer)")
        assert "billing.extra" in introspect(other).tables
        other.rollback()
    assert "billing.extra" not in introspect(conn).tables


def test_extension_objects_and_views_are_left_out(conn: psycopg.Connection[Any]) -> None:
    reset(conn)
    conn.execute("CREATE TABLE t (id integer)")
    conn.execute("CREATE VIEW v AS SELECT id FROM t")
    conn.execute("CREATE TABLE p (id integer) PARTITION BY RANGE (id)")
    conn.execute("CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10)")
    assert set(introspect(conn).tables) == {"t"}


def test_find_tables_in_a_module_and_a_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert find_tables(guide) == list(guide.TABLES)
    found = find_tables(this_module)
    assert found == [Plan, Subscription, Usage]  # not the alias, nor imported tables

    package = tmp_path / "shop_schema"
    (package / "more").mkdir(parents=True)
    (package / "__init__.py").write_text("from shop_schema.orders import Orders\n")
    (package / "orders.py").write_text(
        "from pgbuild import Table, integer, extension\n"
        "from schema import Users  # imported, not defined here\n"
        "trgm = extension('pg_trgm')\n"
        "class Orders(Table, name='orders'):\n    id = integer().primary_key()\n"
    )
    (package / "more" / "__init__.py").write_text("")
    (package / "more" / "lines.py").write_text(
        "from pgbuild import Table, alias, integer\n"
        "class Lines(Table, name='lines'):\n    id = integer().primary_key()\n"
        "other = alias(Lines, 'other')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    tables = find_tables("shop_schema")
    assert [t.__table__.name for t in tables] == ["orders", "lines"]
    assert [e.name for e in find_extensions("shop_schema")] == ["pg_trgm"]
    assert from_tables(tables, find_extensions("shop_schema")).extensions == {"pg_trgm"}


# ------------------------------------------------------------------ random checks

COLUMNS = {
    "n": integer(), "d": numeric(10, 2), "s": text(), "v": varchar(20), "b": boolean(),
    "m": tone_type(), "ts": timestamp(), "j": jsonb(),
}
NUMBERS = st.integers(-1000, 1000)
TEXTS = st.text(alphabet="ab'%_\\\" x", max_size=6)
LEAF = st.one_of(
    st.tuples(st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]),
              st.sampled_from(["n", "d"]), NUMBERS),
    st.tuples(st.sampled_from(["eq", "ne", "like", "ilike", "not_like", "not_ilike"]),
              st.sampled_from(["s", "v"]), TEXTS),
    st.tuples(st.sampled_from(["in", "not_in"]), st.just("n"),
              st.lists(NUMBERS, min_size=1, max_size=3)),
    st.tuples(st.sampled_from(["in", "not_in"]), st.sampled_from(["s", "v"]),
              st.lists(TEXTS, min_size=1, max_size=3)),
    st.tuples(st.sampled_from(["between", "not_between"]), st.just("n"), NUMBERS, NUMBERS),
    st.tuples(st.sampled_from(["is_null", "is_not_null"]), st.sampled_from(list(COLUMNS))),
    st.tuples(st.just("eq"), st.just("b"), st.booleans()),
    st.tuples(st.just("eq"), st.just("m"), st.sampled_from(["dry", "warm"])),
    st.tuples(st.sampled_from(["gt", "lt"]), st.just("ts"),
              st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1),
                           timezones=st.just(UTC))),
    st.tuples(st.just("eq"), st.just("j"), st.dictionaries(st.sampled_from("abc"), NUMBERS)),
)
RECIPE = st.recursive(
    LEAF,
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["and", "or"]), st.lists(inner, min_size=2, max_size=3)),
        st.tuples(st.just("not"), inner),
    ),
    max_leaves=5,
)
OPS = {"eq": eq, "ne": ne, "gt": gt, "gte": gte, "lt": lt, "lte": lte, "like": like,
       "ilike": ilike, "not_like": not_like, "not_ilike": not_ilike, "in": in_,
       "not_in": not_in, "between": between, "not_between": not_between}


def build(recipe: Any, cols: dict[str, Any]) -> Any:
    kind = recipe[0]
    if kind in ("and", "or"):
        items = [build(r, cols) for r in recipe[1]]
        return and_(*items) if kind == "and" else or_(*items)
    if kind == "not":
        return not_(build(recipe[1], cols))
    if kind in ("is_null", "is_not_null"):
        return (is_null if kind == "is_null" else is_not_null)(cols[recipe[1]])
    return OPS[kind](cols[recipe[1]], *recipe[2:])


@settings(max_examples=25)
@given(recipes=st.lists(RECIPE, min_size=1, max_size=3))
def test_random_checks_and_predicates_read_back_equal(
    conn: psycopg.Connection[Any], recipes: list[Any]
) -> None:
    def body(ns: dict[str, Any]) -> None:
        cols = {name: dataclasses.replace(col) for name, col in COLUMNS.items()}
        ns.update(cols)
        ns["__constraints__"] = tuple(check(f"c{i}", build(r, cols)) for i, r in enumerate(recipes))
        ns["__indexes__"] = (index("checked_idx").on(cols["n"]).where(build(recipes[0], cols)),)

    table = types.new_class("Checked", (Table,), {"name": "checked"}, body)
    create(conn, (table,))
    declared: TableModel = from_tables([table]).tables["checked"]
    live = introspect(conn).tables["checked"]
    assert declared.checks == live.checks, [c.expression for c in live.checks]
    assert declared.indexes == live.indexes, [i.predicate for i in live.indexes]
