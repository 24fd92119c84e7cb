"""The schema model (``pgbuild.migrate.model``) and the expression normal
forms it compares by (``pgbuild.migrate.normalize``): quoting, JSON snapshots
and filters.

The normal form is what makes a declared schema equal to the same schema
read back from the server: each pair below is what pgbuild renders and what
``pg_get_expr`` prints for it, checked against the server where it matters.
The helpers at the top (``scratch_database``, ``reset``, ``apply``) are
shared by the other modules of this package.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql

import schema as guide
from pgbuild.migrate.declared import from_tables
from pgbuild.migrate.introspect import index_items, introspect
from pgbuild.migrate.model import (
    QUOTED_KEYWORDS,
    Check,
    Column,
    Enum,
    Index,
    Schema,
    Table,
    quote_ident,
    rewrite_expr,
)
from pgbuild.migrate.normalize import normal_expr, normal_index_item
from pgbuild.migrate.ops import Op
from tests.conftest import fresh_database

# ------------------------------------------------------------------ shared helpers


@contextmanager
def scratch_database(server_url: str, label: str) -> Iterator[str]:
    """A fresh database on the test server, dropped afterwards."""
    with fresh_database(server_url, f"migrate_{label}") as url:
        yield url


@contextmanager
def scratch_connection(server_url: str, label: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to a fresh database, dropped afterwards."""
    with scratch_database(server_url, label) as url, psycopg.connect(url, autocommit=True) as conn:
        yield conn


def reset(conn: psycopg.Connection[Any]) -> None:
    """Empty the database: every user schema dropped, ``public`` recreated."""
    rows = conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
        "AND nspname <> 'information_schema'"
    ).fetchall()
    for (name,) in rows:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
    conn.execute("CREATE SCHEMA public")


def apply(conn: psycopg.Connection[Any], ops: Sequence[Op]) -> None:
    """Run the operations' statements, as a migration file would hold them."""
    for op in ops:
        for statement in op.statements():
            try:
                conn.execute(statement)
            except psycopg.Error as exc:
                raise AssertionError(f"{op.describe()}: {statement}\n{exc}") from exc


@pytest.fixture(scope="module")
def conn(server_url: str) -> Iterator[psycopg.Connection[Any]]:
    with scratch_connection(server_url, "model") as c:
        yield c


# ------------------------------------------------------------------ names


def test_quote_ident_quotes_what_the_server_quotes(conn: psycopg.Connection[Any]) -> None:
    words = conn.execute("SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'").fetchall()
    assert {w for (w,) in words} == QUOTED_KEYWORDS
    names = ["users", "user", "order", "Mixed", "a b", 'q"t', "_x1", "1abc", "action", "é"]
    expected = conn.execute(
        "SELECT array_agg(quote_ident(n) ORDER BY o) FROM unnest(%s::text[]) "
        "WITH ORDINALITY AS u(n, o)",
        (names,),
    ).fetchone()
    assert expected is not None
    assert [quote_ident(n) for n in names] == expected[0]


# ------------------------------------------------------------------ normal forms

SAME = [
    # pgbuild renders                         the server prints
    ('"qty" >= 0', "(qty >= 0)"),
    ('"price" > 0', "(price > (0)::numeric)"),
    (" -42", "'-42'::integer"),
    ("'it''s'::text", "'it''s'::text"),
    (" E'a\\\\b'::text", "'a\\b'::text"),
    ("'{\"z\": 1, \"a\": [1, 2.50]}'::jsonb", "'{\"a\": [1, 2.5], \"z\": 1}'::jsonb"),
    ("'{a,\"b c\"}'::text[]", "ARRAY['a'::text, 'b c'::text]"),
    ("'{1,2}'::int2[]", "'{1,2}'::integer[]"),
    ("1e+20", "'100000000000000000000'::numeric"),
    ("'0000000000000000000000000000000a'::uuid", "'00000000-0000-0000-0000-00000000000a'::uuid"),
    ("'1 day 0:00:00'::interval", "'1 day'::interval"),
    (" E'ab'::bytea", "'\\x6162'::bytea"),
    ("'2024-01-02 03:04:05+00:00'::timestamptz",
     "'2024-01-02 04:04:05+01'::timestamp with time zone"),
    ('"m" BETWEEN 1 AND 5', "((m >= 1) AND (m <= 5))"),
    ('"m" NOT BETWEEN 1 AND 5', "((m < 1) OR (m > 5))"),
    ("\"n\" LIKE 'a%'", "(n ~~ 'a%'::text)"),
    ("\"n\" NOT ILIKE 'a%'", "(n !~~* 'a%'::text)"),
    ("\"c\" IN ('x', 'y')",
     "((c)::text = ANY ((ARRAY['x'::character varying, 'y'::character varying])::text[]))"),
    ("\"c\" = ANY('{x,y}')", "(c = ANY ('{x,y}'::text[]))"),
    ('("a" > 0 AND "b" < 5 AND "c" IS NULL)', "(((a > 0) AND (b < 5)) AND (c IS NULL))"),
    ('NOT ("a" IS NULL)', "(NOT (a IS NULL))"),
    ('"a" != 1', "(a <> 1)"),
    ("lower(\"email\")", "lower(email)"),
    ('"v" || "name"', "(((v)::text || name))"),
    ('"user" = 1', '("user" = 1)'),
    ("CURRENT_TIMESTAMP", "CURRENT_TIMESTAMP"),
    ("nextval('t_id_seq'::regclass)", "nextval('t_id_seq'::regclass)"),
    ("CASE WHEN \"a\" > 1 THEN 'x' ELSE 'y' END",
     "CASE WHEN (a > 1) THEN 'x'::text ELSE 'y'::text END"),
]

DIFFERENT = [
    ('"qty" >= 0', '"qty" > 0'),
    ('"a" > 1', '"b" > 1'),
    ("now()", "CURRENT_TIMESTAMP"),
    ("'x'", "'y'"),
    ('"a" + 1 * 2', '("a" + 1) * 2'),
    ('"a" AND "b" OR "c"', '"a" AND ("b" OR "c")'),
    ("'{\"a\": 1}'::jsonb", "'{\"a\": 2}'::jsonb"),
    ('"Mixed" = 1', "mixed = 1"),
]


@pytest.mark.parametrize(("declared", "server"), SAME)
def test_equal_expressions_have_one_normal_form(declared: str, server: str) -> None:
    assert normal_expr(declared) == normal_expr(server)


@pytest.mark.parametrize(("x", "y"), DIFFERENT)
def test_different_expressions_differ(x: str, y: str) -> None:
    assert normal_expr(x) != normal_expr(y)


def test_unparsable_text_compares_by_tokens() -> None:
    assert normal_expr("(SELECT  1)") == normal_expr("( select 1 )")
    assert normal_expr("(SELECT 1)") != normal_expr("(SELECT 2)")


def test_index_items() -> None:
    assert normal_index_item('(lower("name"))') == normal_index_item("lower(name)")
    assert normal_index_item('"created"') == normal_index_item("created ASC NULLS LAST")
    assert normal_index_item("created DESC") == normal_index_item("created DESC NULLS FIRST")
    assert normal_index_item("created DESC") != normal_index_item("created")
    assert normal_index_item("meta jsonb_path_ops") != normal_index_item("meta")
    assert index_items(
        "CREATE INDEX i ON public.t USING btree (lower(name) text_pattern_ops DESC, "
        "((a + 1)), b) INCLUDE (c, \"D\") WHERE (a > 0)"
    ) == (("lower(name) text_pattern_ops DESC", "((a + 1))", "b"), ("c", "D"))


def test_rewrite_expr_renames_columns_and_types() -> None:
    assert rewrite_expr("(nick <> ''::text)", {"nick": "handle"}) == "(handle <> ''::text)"
    assert rewrite_expr("lower(nick)", {"lower": "x", "nick": "Nick"}) == 'lower("Nick")'
    assert rewrite_expr("'a'::app.mood", types={"app.mood": "feeling"}) == "'a'::feeling"


# ------------------------------------------------------------------ dataclasses


def test_order_of_columns_and_constraints_does_not_matter() -> None:
    a, b = Column("a", "integer"), Column("b", "text", default="'x'::text")
    one = Table("public", "t", (a, b), checks=(Check("c1", "a > 0"), Check("c2", "b <> ''")))
    two = Table("public", "t", (b, a),
                checks=(Check("c2", "(b <> ''::text)"), Check("c1", "(a > 0)")))
    assert one == two
    assert one != Table("public", "t", (a,))
    assert Column("b", "text", default="'x'") == b
    assert Column("b", "text", default="'y'") != b


def test_json_round_trip_of_declared_and_live_schemas(conn: psycopg.Connection[Any]) -> None:
    from pgbuild.ddl import create_all
    from pgbuild.render import sql_text
    from tests.test_table import TABLES

    declared = from_tables([*guide.TABLES, *TABLES])
    assert Schema.from_json(declared.to_json()) == declared
    assert Schema.from_json(declared.to_json()).to_json() == declared.to_json()
    reset(conn)
    for statement in create_all([*guide.TABLES, *TABLES]):
        conn.execute(sql_text(statement))
    live = introspect(conn)
    assert Schema.from_json(live.to_json()) == live == declared


def test_json_is_sorted_and_skips_defaults() -> None:
    s = Schema(
        frozenset({"public", "app"}),
        {"app.mood": Enum("app", "mood", ("a", "b"))},
        {"t": Table("public", "t", (Column("id", "integer", not_null=True),),
                    indexes=(Index("t_idx", ("id",)),))},
    )
    text = s.to_json()
    assert text.index('"app"') < text.index('"public"')
    assert '"identity"' not in text and '"method"' not in text
    assert Schema.from_json(text) == s
    with pytest.raises(ValueError, match="not a pgbuild schema"):
        Schema.from_json('{"format": "other"}')


def test_filter_by_schema_and_table_pattern() -> None:
    s = Schema(
        frozenset({"public", "app"}),
        {"mood": Enum("public", "mood", ("a",)), "app.state": Enum("app", "state", ("x",))},
        {
            "app_users": Table("public", "app_users", ()),
            "audit": Table("public", "audit", ()),
            "app.t": Table("app", "t", ()),
        },
    )
    assert set(s.filter(schemas=["public"]).tables) == {"app_users", "audit"}
    assert set(s.filter(schemas=["public"]).enums) == {"mood"}
    assert s.filter(schemas=["app"]).schemas == {"app"}
    assert set(s.filter(tables=["app_*"]).tables) == {"app_users"}
    assert set(s.filter(tables=["app.*"]).tables) == {"app.t"}
    assert set(s.filter(schemas=["public"], tables=["a*"]).tables) == {"app_users", "audit"}
    assert s.filter() == s
