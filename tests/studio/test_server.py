"""The studio over real HTTP against the real server: security, the schema
browser, the grid (cells, filters, sort, keyset pages), counts, exports,
bytea, edits, migrations and the SQL console.

Fixtures (``studio``, ``studio_write``, ``studio_database``) and the seed
are in ``tests/studio/conftest.py``; ``call`` is a plain ``http.client``
request with the token, Host and content type a page sends.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgbuild.studio import Studio, start_studio
from pgbuild.studio.__main__ import resolve_url
from pgbuild.studio.server import studio_conninfo
from tests.conftest import fresh_database
from tests.studio.client import call, query_string

ROOT = Path(__file__).resolve().parents[2]


def rows(studio: Studio, table: str, **body: Any) -> dict[str, Any]:
    answer = call(studio, "POST", "/api/rows", {"schema": "public", "table": table, **body})
    assert answer.status == 200, answer.body
    return answer.json()  # type: ignore[no-any-return]


def column(page: dict[str, Any], name: str) -> list[Any]:
    at = [c["name"] for c in page["columns"]].index(name)
    return [row[at] for row in page["rows"]]


def admin(url: str, text: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(text.encode() if params is None else text, params)
        return cur.fetchall() if cur.description else []


def every_page(studio: Studio, table: str, limit: int, **body: Any) -> list[dict[str, Any]]:
    pages, after = [], None
    while True:
        page = rows(studio, table, limit=limit, after=after, **body)
        pages.append(page)
        after = page["next"]
        if after is None:
            return pages
        assert len(pages) < 1000, "the pages never end"


# ------------------------------------------------------------------ security


def test_a_request_without_the_token_is_refused(studio: Studio) -> None:
    for method, path in [("GET", "/"), ("GET", "/api/schema"), ("GET", "/static/grid.js"),
                         ("POST", "/api/rows"), ("GET", "/api/export?schema=public")]:
        answer = call(studio, method, path, {"schema": "public", "table": "customers"},
                      token=None)
        assert answer.status == 403, (method, path)
        assert "token" in answer.error


def test_a_wrong_token_is_refused(studio: Studio) -> None:
    assert call(studio, "GET", "/api/schema", token=studio.token[:-1] + "x").status == 403
    assert call(studio, "GET", "/api/schema?token=nope", token=None).status == 403


def test_the_token_may_come_in_the_query_string(studio: Studio) -> None:
    answer = call(studio, "GET", f"/api/schema?token={studio.token}", token=None)
    assert answer.status == 200


def test_a_wrong_host_header_is_refused(studio: Studio) -> None:
    # DNS rebinding: evil.example resolves to 127.0.0.1, the browser sends its name.
    for host in [f"evil.example:{studio.port}", "127.0.0.1", f"127.0.0.1:{studio.port + 1}"]:
        answer = call(studio, "GET", "/api/schema", headers={"Host": host})
        assert answer.status == 403, host
        assert "Host" in answer.error


def test_localhost_is_a_valid_host(studio: Studio) -> None:
    answer = call(studio, "GET", "/api/schema", headers={"Host": f"localhost:{studio.port}"})
    assert answer.status == 200


def test_a_foreign_origin_is_refused(studio: Studio) -> None:
    for origin in ["http://evil.example", "null", f"http://127.0.0.1:{studio.port + 1}",
                   f"https://127.0.0.1:{studio.port}"]:
        answer = call(studio, "POST", "/api/rows", {"schema": "public", "table": "customers"},
                      headers={"Origin": origin})
        assert answer.status == 403, origin
    assert call(studio, "GET", "/api/schema",
                headers={"Sec-Fetch-Site": "cross-site"}).status == 403


def test_a_link_from_another_site_may_only_open_the_page(studio: Studio) -> None:
    navigate = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    assert call(studio, "GET", "/", headers=navigate).status != 403
    assert call(studio, "GET", "/api/schema", headers={
        **navigate, "Sec-Fetch-Mode": "cors"}).status == 403
    assert call(studio, "POST", "/api/sql", {"sql": "select 1"}, headers=navigate).status == 403


def test_the_studios_own_origin_is_accepted(studio: Studio) -> None:
    for origin in [f"http://127.0.0.1:{studio.port}", f"http://localhost:{studio.port}"]:
        answer = call(studio, "POST", "/api/count", {"schema": "public", "table": "ranks"},
                      headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"})
        assert answer.status == 200, origin


def test_a_post_that_is_not_json_is_refused(studio: Studio) -> None:
    # What a cross-site <form> can send without a preflight.
    for kind in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]:
        answer = call(studio, "POST", "/api/sql", raw_body=b'{"sql": "select 1"}',
                      headers={"Content-Type": kind})
        assert answer.status == 403, kind
        assert "application/json" in answer.error


def test_unknown_endpoints_and_methods_are_refused(studio: Studio) -> None:
    assert call(studio, "GET", "/api/nothing").status == 404
    assert call(studio, "GET", "/api/rows").status == 405
    assert call(studio, "POST", "/api/schema", {}).status == 405
    for method in ["PUT", "DELETE", "OPTIONS", "PATCH"]:
        answer = call(studio, method, "/api/rows")
        assert answer.status == 405, method
        assert "access-control-allow-origin" not in answer.headers


def test_every_answer_carries_the_security_headers(studio: Studio) -> None:
    for answer in [call(studio, "GET", "/api/schema"), call(studio, "GET", "/", token=None),
                   call(studio, "GET", "/api/nothing")]:
        h = answer.headers
        assert h["x-frame-options"] == "DENY"
        assert h["content-security-policy"] == (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'")
        assert h["referrer-policy"] == "no-referrer"
        assert h["cache-control"] == "no-store"
        assert "access-control-allow-origin" not in h


def test_the_studio_listens_on_the_loopback_address_only(studio: Studio) -> None:
    with socket.create_connection(("127.0.0.1", studio.port), timeout=5):
        pass
    assert studio._server.server_address[0] == "127.0.0.1"
    assert studio.url == f"http://127.0.0.1:{studio.port}/?token={studio.token}"
    assert len(studio.token) >= 32


def test_edits_are_refused_without_write(studio: Studio, studio_database: str) -> None:
    change = {"schema": "public", "table": "customers",
              "changes": [{"op": "update", "key": {"id": "2"}, "set": {"name": "Mallory"}}]}
    for path in ["/api/preview", "/api/apply"]:
        answer = call(studio, "POST", path, change)
        assert answer.status == 403
        assert "--write" in answer.error
    assert admin(studio_database, "SELECT name FROM customers WHERE id = 2") == [("Bob",)]


def test_the_server_refuses_a_write_from_the_read_only_console(
    studio: Studio, studio_database: str
) -> None:
    for statement in ["CREATE TABLE intruder (id int)", "DELETE FROM orders",
                      "UPDATE customers SET name = 'x' WHERE id = 1"]:
        answer = call(studio, "POST", "/api/sql", {"sql": statement})
        assert answer.status == 403, statement
        assert answer.json()["sqlstate"] == "25006"  # read_only_sql_transaction
        assert "read-only transaction" in answer.error
    assert admin(studio_database, "SELECT count(*) FROM orders") == [(4,)]
    assert admin(studio_database, "SELECT to_regclass('intruder')") == [(None,)]


def test_the_read_only_console_cannot_loosen_its_own_session(
    studio: Studio, studio_database: str
) -> None:
    # Two statements in one request are one too many for the extended protocol.
    answer = call(studio, "POST", "/api/sql", {
        "sql": "SET default_transaction_read_only = off; DELETE FROM orders"})
    assert answer.status == 400
    assert "multiple commands" in answer.error
    # One statement per request: a SET is rolled back with its transaction.
    for loosen in ["SET default_transaction_read_only = off",
                   "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
                   "SELECT set_config('default_transaction_read_only', 'off', false)",
                   "SET statement_timeout = 0"]:
        assert call(studio, "POST", "/api/sql", {"sql": loosen}).status == 200
    for _ in range(10):  # whichever pooled connection runs it
        answer = call(studio, "POST", "/api/sql", {"sql": "DELETE FROM orders"})
        assert answer.status == 403
        shown = call(studio, "POST", "/api/sql", {"sql": "SHOW statement_timeout"})
        assert shown.json()["rows"] == [["30s"]]
    assert admin(studio_database, "SELECT count(*) FROM orders") == [(4,)]


def test_an_injection_in_a_filter_value_has_no_effect(
    studio_write: Studio, studio_database: str
) -> None:
    attack = "x'; DROP TABLE orders; --"
    for op in ["=", "like", "ilike", ">="]:
        page = rows(studio_write, "customers", filters=[{"column": "name", "op": op,
                                                         "value": attack}])
        assert page["rows"] == [], op
    page = rows(studio_write, "customers",
                filters=[{"column": "name", "op": "in", "value": [attack, "a') OR ('1'='1"]}])
    assert page["rows"] == []
    assert admin(studio_database, "SELECT count(*) FROM orders") == [(4,)]


def test_names_not_in_the_catalog_are_404(studio: Studio) -> None:
    cases = [
        ({"schema": "nope", "table": "customers"}, "no schema 'nope'"),
        ({"schema": "public", "table": 'orders"; DROP TABLE orders; --'},
         "no table or view 'orders\"; DROP TABLE orders; --' in schema 'public'"),
        ({"schema": "public", "table": "customers",
          "filters": [{"column": "id = id OR 1=1 --", "op": "=", "value": "1"}]},
         "no column 'id = id OR 1=1 --' in public.customers"),
        ({"schema": "public", "table": "customers", "sort": [{"column": "ctid"}]},
         "no column 'ctid' in public.customers"),
    ]
    for body, message in cases:
        answer = call(studio, "POST", "/api/rows", body)
        assert answer.status == 404, body
        assert answer.error == message


def test_static_files_are_served_only_from_the_static_folder(tmp_path: Path,
                                                             studio_database: str) -> None:
    static = tmp_path / "static"
    (static / "icons").mkdir(parents=True)
    (static / "index.html").write_text(
        '<meta name="studio-token" content="__TOKEN__"><script src="/static/app.js"></script>')
    (static / "app.js").write_text("console.log(1)")
    (static / "style.css").write_text("body{}")
    (static / "icons" / "logo.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("not for the page")
    with start_studio(studio_database, static_dir=static) as running:
        page = call(running, "GET", "/", token=None, headers={})
        assert page.status == 403
        page = call(running, "GET", f"/?token={running.token}", token=None)
        assert page.status == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.body.decode() == (f'<meta name="studio-token" content="{running.token}">'
                                      '<script src="/static/app.js"></script>')
        expected = {"app.js": "text/javascript; charset=utf-8",
                    "style.css": "text/css; charset=utf-8", "icons/logo.svg": "image/svg+xml"}
        for name, kind in expected.items():
            answer = call(running, "GET", f"/static/{name}")
            assert (answer.status, answer.headers["content-type"]) == (200, kind), name
        for bad in ["../secret.txt", "%2e%2e/secret.txt", "..%2fsecret.txt", ".hidden",
                    "icons/../../secret.txt", "nothing.js", "icons"]:
            assert call(running, "GET", f"/static/{bad}").status == 404, bad


# ------------------------------------------------------------------ schema browser


def table_of(schema: dict[str, Any], name: str) -> dict[str, Any]:
    public = next(s for s in schema["schemas"] if s["name"] == "public")
    return next(t for t in public["tables"] if t["name"] == name)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def schema(studio: Studio) -> dict[str, Any]:
    answer = call(studio, "GET", "/api/schema")
    assert answer.status == 200
    return answer.json()  # type: ignore[no-any-return]


def test_schema_names_the_database_and_the_mode(schema: dict[str, Any],
                                                studio_database: str) -> None:
    (name,) = admin(studio_database, "SELECT current_database()")[0]
    assert schema["database"] == name
    assert schema["server_version"].split(".")[0].isdigit()
    assert schema["read_only"] is True
    assert [s["name"] for s in schema["schemas"]] == ["public"]  # no system schemas


def test_schema_lists_tables_views_and_enums(schema: dict[str, Any]) -> None:
    public = schema["schemas"][0]
    kinds = {t["name"]: t["kind"] for t in public["tables"]}
    assert kinds == {"audit_log": "table", "big_spenders": "view", "customers": "table",
                     "orders": "table", "ranks": "table"}
    assert public["enums"] == [{"name": "mood", "values": ["sad", "ok", "happy"]}]
    assert table_of(schema, "ranks")["estimated_rows"] == 25  # reltuples, no count(*)


def test_schema_describes_columns(schema: dict[str, Any]) -> None:
    customers = table_of(schema, "customers")
    assert customers["primary_key"] == ["id"]
    by_name = {c["name"]: c for c in customers["columns"]}
    assert by_name["id"] == {"name": "id", "type": "bigint", "nullable": False,
                             "default": None, "enum": None, "identity": None,
                             "generated": None}
    assert by_name["mood"]["enum"] == ["sad", "ok", "happy"]
    assert by_name["balance"]["type"] == "numeric(40,10)"
    assert by_name["tags"]["type"] == "text[]"
    orders = {c["name"]: c for c in table_of(schema, "orders")["columns"]}
    assert orders["placed_at"]["default"] == "now()"
    assert orders["id"]["identity"] == "by default"


def test_schema_lists_indexes_and_constraints(schema: dict[str, Any]) -> None:
    orders = table_of(schema, "orders")
    assert {"name": "orders_customer_id",
            "definition": "CREATE INDEX orders_customer_id ON public.orders "
                          "USING btree (customer_id)"} in orders["indexes"]
    types = {c["name"]: c["type"] for c in orders["constraints"]}
    assert types == {"orders_pkey": "p", "orders_customer_id_fkey": "f",
                     "orders_total_check": "c"}
    checks = [c["definition"] for c in orders["constraints"] if c["type"] == "c"]
    assert checks == ["CHECK (total >= 0::numeric)"]


def test_schema_gives_foreign_keys_both_ways(schema: dict[str, Any]) -> None:
    orders = table_of(schema, "orders")
    assert orders["foreign_keys"] == [{
        "name": "orders_customer_id_fkey", "columns": ["customer_id"],
        "ref_schema": "public", "ref_table": "customers", "ref_columns": ["id"]}]
    customers = table_of(schema, "customers")
    assert sorted(customers["referenced_by"], key=lambda r: r["table"]) == [
        {"name": "customers_referrer_id_fkey", "schema": "public", "table": "customers",
         "columns": ["referrer_id"], "ref_columns": ["id"]},
        {"name": "orders_customer_id_fkey", "schema": "public", "table": "orders",
         "columns": ["customer_id"], "ref_columns": ["id"]},
    ]


def test_schema_gives_readable_ddl(schema: dict[str, Any], server_url: str) -> None:
    ddl = table_of(schema, "orders")["ddl"]
    assert ddl.startswith("CREATE TABLE public.orders (\n    id integer GENERATED BY DEFAULT "
                          "AS IDENTITY NOT NULL,\n")
    assert "    CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id) " \
           "REFERENCES customers(id)" in ddl
    assert ddl.endswith(");\n\nCREATE INDEX orders_customer_id ON public.orders "
                        "USING btree (customer_id);")
    assert table_of(schema, "big_spenders")["ddl"].startswith(
        "CREATE VIEW public.big_spenders AS\n SELECT c.name,")
    # The DDL is real SQL: it recreates the table elsewhere.
    with fresh_database(server_url, "studio_ddl") as other:
        admin(other, "CREATE TABLE customers (id bigint PRIMARY KEY)")
        admin(other, ddl)
        assert admin(other, "SELECT count(*) FROM orders") == [(0,)]


# ------------------------------------------------------------------ the grid


def test_cells_are_the_values_exactly_as_stored(studio: Studio) -> None:
    page = rows(studio, "customers", sort=[{"column": "id"}])
    assert column(page, "id") == ["-9223372036854775808", "1", "2", "3", "9223372036854775807"]
    assert column(page, "balance") == [None, "123456789012345678901234567890.0000000001", None,
                                       "0.0000000000", "-0.5000000000"]
    # The database's TimeZone is Asia/Kolkata: the offset is shown as stored.
    assert column(page, "joined_at") == ["infinity", "2024-03-01 18:04:56.789012+05:30", None,
                                         "2024-01-01 05:29:59+05:30", "1999-01-01 05:30:00+05:30"]
    assert column(page, "tags") == [None, '{vip,"with space",NULL}', None, "{}", "{a}"]
    assert column(page, "scores") == [None, "{1,2,NULL}", None, "{}", "{-2147483648}"]
    assert column(page, "mood") == ["ok", "happy", None, "sad", "ok"]
    # NULL and the empty string stay apart.
    assert column(page, "email")[2:4] == [None, ""]
    assert column(page, "name")[3] == ""
    assert page["columns"][:3] == [{"name": "id", "type": "bigint"},
                                   {"name": "name", "type": "text"},
                                   {"name": "email", "type": "text"}]


def test_bytea_cells_are_sizes_and_json_cells_are_wrapped(studio: Studio) -> None:
    page = rows(studio, "customers", sort=[{"column": "id"}])
    assert column(page, "avatar") == [None, {"bytea": 3}, None, {"bytea": 0}, None]
    assert column(page, "prefs") == [
        {"json": "null"},
        {"json": '{"n": 12345678901234567890, "langs": ["en", "fr"], "theme": "dark"}'},
        None, {"json": "{}"}, {"json": '[1, "two", null]'}]


def test_every_row_comes_with_its_primary_key(studio: Studio) -> None:
    page = rows(studio, "orders")
    assert page["keys"] == [{"id": "1"}, {"id": "2"}, {"id": "3"}, {"id": "4"}]
    assert rows(studio, "audit_log")["keys"] == [None, None, None]


FILTERS = [
    ({"column": "id", "op": "=", "value": "9223372036854775807"}, ["Max"]),
    ({"column": "id", "op": "!=", "value": "1"}, ["Min", "Bob", "", "Max"]),
    ({"column": "id", "op": "<", "value": "2"}, ["Min", "Ann"]),
    ({"column": "id", "op": "<=", "value": "2"}, ["Min", "Ann", "Bob"]),
    ({"column": "id", "op": ">", "value": "3"}, ["Max"]),
    ({"column": "id", "op": ">=", "value": "3"}, ["", "Max"]),
    ({"column": "mood", "op": "in", "value": ["sad", "happy"]}, ["Ann", ""]),
    ({"column": "mood", "op": "in", "value": []}, []),
    ({"column": "email", "op": "like", "value": "%@example.com"}, ["Min", "Ann", "Max"]),
    ({"column": "name", "op": "ilike", "value": "a%"}, ["Ann"]),
    ({"column": "email", "op": "is null"}, ["Bob"]),
    ({"column": "email", "op": "is not null"}, ["Min", "Ann", "", "Max"]),
    ({"column": "prefs", "op": "@>", "value": '{"langs": ["fr"]}'}, ["Ann"]),
    ({"column": "tags", "op": "@>", "value": "{vip}"}, ["Ann"]),
    ({"column": "balance", "op": ">", "value": "123456789012345678901234567890"}, ["Ann"]),
    ({"column": "joined_at", "op": "<", "value": "2000-01-01 00:00:00+00"}, ["Max"]),
    ({"column": "avatar", "op": "=", "value": "\\x00ff10"}, ["Ann"]),
]


@pytest.mark.parametrize(("condition", "names"), FILTERS,
                         ids=[f"{c['column']} {c['op']}" for c, _ in FILTERS])
def test_a_filter_is_typed_by_its_column(studio: Studio, condition: dict[str, Any],
                                         names: list[str]) -> None:
    page = rows(studio, "customers", filters=[condition], sort=[{"column": "id"}])
    assert column(page, "name") == names


def test_filters_combine_with_and(studio: Studio) -> None:
    page = rows(studio, "orders", filters=[
        {"column": "customer_id", "op": "=", "value": "1"},
        {"column": "total", "op": ">", "value": "1"}])
    assert column(page, "id") == ["1", "2"]


def test_a_value_that_does_not_read_as_the_column_type_names_the_column(
    studio: Studio,
) -> None:
    for condition, message in [
        ({"column": "id", "op": "=", "value": "ten"},
         "filter on 'id': invalid input syntax for type bigint: \"ten\""),
        ({"column": "mood", "op": "in", "value": ["ok", "angry"]},
         "filter on 'mood': invalid input value for enum mood: \"angry\""),
        ({"column": "prefs", "op": "@>", "value": "{not json"},
         "filter on 'prefs': invalid input syntax for type json"),
    ]:
        answer = call(studio, "POST", "/api/rows", {
            "schema": "public", "table": "customers",
            "filters": [{"column": "name", "op": "=", "value": "Ann"}, condition]})
        assert answer.status == 400, condition
        assert answer.error == message
        assert answer.json()["column"] == condition["column"]
    bad_op = call(studio, "POST", "/api/count", {"schema": "public", "table": "customers",
                                                  "filters": [{"column": "id", "op": "~"}]})
    assert bad_op.status == 400
    assert bad_op.error.startswith("filter on 'id': unknown op '~'")


def test_sort_descending_puts_nulls_first(studio: Studio) -> None:
    page = rows(studio, "customers", sort=[{"column": "email", "dir": "desc"}])
    assert column(page, "email") == [None, "min@example.com", "max@example.com",
                                     "ann@example.com", ""]
    page = rows(studio, "customers", sort=[{"column": "email", "dir": "asc"}])
    assert column(page, "email") == ["", "ann@example.com", "max@example.com",
                                     "min@example.com", None]


def test_a_column_that_cannot_be_sorted_is_400(studio_database: str, studio: Studio) -> None:
    admin(studio_database, "CREATE TABLE IF NOT EXISTS shapes (id int PRIMARY KEY, p point)")
    answer = call(studio, "POST", "/api/rows", {"schema": "public", "table": "shapes",
                                                "sort": [{"column": "p"}]})
    assert answer.status == 400
    assert answer.error == "'p' (point) cannot be sorted"


@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_paging_through_nulls_and_duplicates_returns_every_row_once(
    studio: Studio, studio_database: str, direction: str
) -> None:
    descending = direction == "desc"
    expected = [str(r[0]) for r in admin(
        studio_database, f"SELECT id FROM ranks ORDER BY score {direction}, id")]
    assert len(expected) == 25
    for limit in [1, 2, 3, 4, 7, 24, 25, 26]:
        pages = every_page(studio, "ranks", limit, sort=[{"column": "score", "dir": direction}])
        ids = [i for page in pages for i in column(page, "id")]
        assert ids == expected, (limit, descending)
        assert all(len(page["rows"]) == limit for page in pages[:-1])
        assert len(pages) == -(-25 // limit)  # no empty last page


PAGING_ROWS = st.lists(
    st.tuples(st.none() | st.integers(0, 3), st.none() | st.sampled_from(["", "x", "y"])),
    max_size=30)
PAGING_SORT = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["asc", "desc"])),
                       max_size=2, unique_by=lambda s: s[0])


@settings(max_examples=40)
@given(data=PAGING_ROWS, sort=PAGING_SORT, limit=st.integers(1, 7))
def test_keyset_pages_agree_with_order_by(
    studio: Studio, studio_database: str, data: list[tuple[int | None, str | None]],
    sort: list[tuple[str, str]], limit: int,
) -> None:
    """A table with a primary key, one without (ctid) and a view (every
    column, ties counted): paging gives what one ORDER BY gives."""
    admin(studio_database, "CREATE TABLE IF NOT EXISTS prop_pk (id int PRIMARY KEY, a int, "
                           "b text); CREATE TABLE IF NOT EXISTS prop_heap (a int, b text); "
                           "CREATE OR REPLACE VIEW prop_view AS SELECT a, b FROM prop_heap; "
                           "TRUNCATE prop_pk, prop_heap")
    with psycopg.connect(studio_database, autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO prop_pk VALUES (%s, %s, %s)",
                            [(i, a, b) for i, (a, b) in enumerate(data)])
            cur.executemany("INSERT INTO prop_heap VALUES (%s, %s)", data)
    order = ", ".join(f"{name} {direction}" for name, direction in sort)
    body = {"sort": [{"column": name, "dir": direction} for name, direction in sort]}
    rest = ", ".join(n for n in ("a", "b") if n not in dict(sort))

    def shown(values: list[tuple[Any, ...]]) -> list[list[str | None]]:
        return [[None if v is None else str(v) for v in row] for row in values]

    for table, tail, picked in [("prop_pk", "id", "id, a, b"), ("prop_heap", "ctid", "a, b"),
                                ("prop_view", rest, "a, b")]:
        ordered = ", ".join(x for x in (order, tail) if x)
        expected = shown(admin(studio_database, f"SELECT {picked} FROM {table}"
                                                + (f" ORDER BY {ordered}" if ordered else "")))
        pages = every_page(studio, table, limit, **body)
        got = [row for page in pages for row in page["rows"]]
        assert got == expected, table


def test_paging_on_two_sort_columns(studio: Studio, studio_database: str) -> None:
    expected = [str(r[0]) for r in admin(
        studio_database, "SELECT id FROM ranks ORDER BY score DESC, label, id")]
    pages = every_page(studio, "ranks", 4, sort=[{"column": "score", "dir": "desc"},
                                                 {"column": "label", "dir": "asc"}])
    assert [i for page in pages for i in column(page, "id")] == expected


def test_paging_a_table_without_primary_key_uses_the_row_address(studio: Studio) -> None:
    pages = every_page(studio, "audit_log", 1)
    assert [column(p, "actor") for p in pages] == [["ann"], ["ann"], ["bob"]]
    pages = every_page(studio, "audit_log", 1, sort=[{"column": "at", "dir": "desc"}])
    assert [column(p, "actor") for p in pages] == [["bob"], ["ann"], ["ann"]]


def test_paging_a_view_counts_rows_that_are_equal_in_every_column(
    studio: Studio, studio_database: str
) -> None:
    admin(studio_database, "CREATE OR REPLACE VIEW twins AS "
                           "SELECT x FROM (VALUES (1), (1), (1), (2), (NULL)) v(x)")
    for limit in [1, 2, 3]:
        pages = every_page(studio, "twins", limit)
        assert [x for p in pages for x in column(p, "x")] == ["1", "1", "1", "2", None]
        assert all(k is None for p in pages for k in p["keys"])


def test_a_cursor_from_another_sort_is_refused(studio: Studio) -> None:
    first = rows(studio, "ranks", limit=5)
    answer = call(studio, "POST", "/api/rows", {
        "schema": "public", "table": "ranks", "limit": 5, "after": first["next"],
        "sort": [{"column": "score"}]})
    assert answer.status == 400
    assert "another sort" in answer.error
    forged = call(studio, "POST", "/api/rows", {"schema": "public", "table": "ranks",
                                                "after": {"v": "1; DROP TABLE ranks"}})
    assert forged.status == 400


def test_limit_defaults_to_50_and_is_at_most_1000(studio: Studio, studio_database: str) -> None:
    admin(studio_database, "CREATE TABLE IF NOT EXISTS numbers AS "
                           "SELECT i FROM generate_series(1, 1200) i")
    assert len(rows(studio, "numbers")["rows"]) == 50
    assert len(rows(studio, "numbers", limit=1000)["rows"]) == 1000
    for bad in [0, 1001, "10", True]:
        answer = call(studio, "POST", "/api/rows", {"schema": "public", "table": "numbers",
                                                    "limit": bad})
        assert answer.status == 400, bad


def test_count_is_exact_and_filtered(studio: Studio) -> None:
    answer = call(studio, "POST", "/api/count", {"schema": "public", "table": "ranks"})
    assert answer.json() == {"count": 25}
    answer = call(studio, "POST", "/api/count", {
        "schema": "public", "table": "ranks",
        "filters": [{"column": "score", "op": "is null"}]})
    assert answer.json() == {"count": 6}


# ------------------------------------------------------------------ export and bytea


def test_export_csv_streams_every_row(studio: Studio) -> None:
    answer = call(studio, "GET", "/api/export" + query_string(
        schema="public", table="customers", format="csv", sort=[{"column": "id"}]))
    assert answer.status == 200
    assert answer.headers["transfer-encoding"] == "chunked"
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"].startswith(
        'attachment; filename="public.customers.csv"')
    lines = answer.body.decode().split("\r\n")
    assert lines[0] == ("id,name,email,mood,joined_at,balance,tags,scores,prefs,avatar,"
                        "referrer_id")
    assert lines[2].startswith('1,Ann,ann@example.com,happy,2024-03-01 18:04:56.789012+05:30,'
                               '123456789012345678901234567890.0000000001,'
                               '"{vip,""with space"",NULL}","{1,2,NULL}",')
    assert lines[2].endswith(",\\x00ff10,")  # bytea as hex; NULL as nothing
    assert lines[4] == '3,"","",sad,2024-01-01 05:29:59+05:30,0.0000000000,{},{},{},\\x,1'
    assert lines[6:] == [""]


def test_export_json_keeps_numbers_exact(studio: Studio) -> None:
    answer = call(studio, "GET", "/api/export" + query_string(
        schema="public", table="customers", format="json",
        filters=[{"column": "id", "op": ">=", "value": "9223372036854775807"}]))
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert b'"id":9223372036854775807,' in answer.body
    (row,) = json.loads(answer.body)
    assert row["name"] == "Max" and row["avatar"] is None


def test_export_of_many_rows_is_streamed_in_order(studio: Studio, studio_database: str) -> None:
    admin(studio_database, "CREATE TABLE IF NOT EXISTS many AS "
                           "SELECT i, md5(i::text) AS h FROM generate_series(1, 25000) i")
    answer = call(studio, "GET", "/api/export" + query_string(
        schema="public", table="many", format="csv", sort=[{"column": "i", "dir": "desc"}]))
    lines = answer.body.decode().splitlines()
    assert len(lines) == 25001
    assert lines[1].startswith("25000,") and lines[-1].startswith("1,")


def test_export_with_a_bad_filter_is_a_json_error(studio: Studio) -> None:
    answer = call(studio, "GET", "/api/export" + query_string(
        schema="public", table="customers", format="csv",
        filters=[{"column": "name", "op": "=", "value": "Ann"},
                 {"column": "id", "op": "=", "value": "x"}]))
    assert answer.status == 400
    assert answer.headers["content-type"] == "application/json"
    assert answer.error == "filter on 'id': invalid input syntax for type bigint: \"x\""


def test_bytea_download_returns_the_raw_bytes(studio: Studio) -> None:
    answer = call(studio, "GET", "/api/bytea" + query_string(
        schema="public", table="customers", column="avatar", key={"id": "1"}))
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert answer.body == b"\x00\xff\x10"
    missing = call(studio, "GET", "/api/bytea" + query_string(
        schema="public", table="customers", column="avatar", key={"id": "2"}))
    assert missing.status == 404


def test_a_50_mb_bytea_is_listed_small_and_downloaded_whole(
    studio: Studio, studio_database: str
) -> None:
    blob = os.urandom(50 * 1024 * 1024)
    admin(studio_database, "CREATE TABLE blobs (id int PRIMARY KEY, data bytea)")
    admin(studio_database, "INSERT INTO blobs VALUES (1, %s)", (blob,))
    answer = call(studio, "POST", "/api/rows", {"schema": "public", "table": "blobs"})
    assert answer.status == 200
    assert len(answer.body) < 10 * 1024
    assert answer.json()["rows"] == [["1", {"bytea": len(blob)}]]
    download = call(studio, "GET", "/api/bytea" + query_string(
        schema="public", table="blobs", column="data", key={"id": "1"}))
    assert download.status == 200
    assert int(download.headers["content-length"]) == len(blob)
    assert hashlib.sha256(download.body).digest() == hashlib.sha256(blob).digest()


# ------------------------------------------------------------------ edits


def changes(*items: dict[str, Any], table: str = "orders") -> dict[str, Any]:
    return {"schema": "public", "table": table, "changes": list(items)}


def test_preview_shows_the_sql_and_its_parameters(studio_write: Studio) -> None:
    answer = call(studio_write, "POST", "/api/preview", changes(
        {"op": "update", "key": {"id": "1"}, "set": {"note": "changed", "total": None}},
        {"op": "insert", "values": {"customer_id": "1", "total": "5"}},
        {"op": "delete", "key": {"id": "3"}}))
    assert answer.status == 200
    returning = ' RETURNING "id"::text, "customer_id"::text, "placed_at"::text, ' \
                '"total"::text, "note"::text'
    assert answer.json() == {"statements": [
        {"sql": 'UPDATE "public"."orders" SET "note" = CAST($1 AS text), "total" = CAST($2 AS '
                'numeric) WHERE "id" = CAST($3 AS integer)' + returning,
         "params": ["changed", None, "1"]},
        {"sql": 'INSERT INTO "public"."orders" ("customer_id", "total") VALUES '
                '(CAST($1 AS bigint), CAST($2 AS numeric))' + returning,
         "params": ["1", "5"]},
        {"sql": 'DELETE FROM "public"."orders" WHERE "id" = CAST($1 AS integer)' + returning,
         "params": ["3"]},
    ]}


def test_apply_runs_a_batch_in_one_transaction(studio_write: Studio,
                                               studio_database: str) -> None:
    answer = call(studio_write, "POST", "/api/apply", changes(
        {"op": "insert", "values": {"customer_id": "2", "total": "12.345", "note": None}},
        {"op": "update", "key": {"id": "4"}, "set": {"note": "bigger", "total": "2000000"}},
        table="orders"))
    assert answer.status == 200, answer.body
    result = answer.json()
    assert result["applied"] == 2
    inserted, updated = result["rows"]
    assert inserted[1:2] == ["2"] and inserted[3:] == ["12.35", None]
    assert updated[0] == "4" and updated[3:] == ["2000000.00", "bigger"]
    assert admin(studio_database, "SELECT total::text, note FROM orders WHERE id = 4") == [
        ("2000000.00", "bigger")]
    new_id = int(inserted[0])
    deleted = call(studio_write, "POST", "/api/apply", changes(
        {"op": "delete", "key": {"id": str(new_id)}}))
    assert deleted.json()["rows"][0][0] == str(new_id)
    assert admin(studio_database, "SELECT count(*) FROM orders WHERE id = %s",
                 (new_id,)) == [(0,)]


def test_a_failing_change_rolls_back_the_whole_batch(studio_write: Studio,
                                                     studio_database: str) -> None:
    before = admin(studio_database, "SELECT * FROM orders ORDER BY id")
    cases = [
        ({"op": "update", "key": {"id": "2"}, "set": {"total": "lots"}},
         "change 2 (update): column 'total': invalid input syntax for type numeric: "
         "\"lots\"; nothing was applied", "total"),
        ({"op": "update", "key": {"id": "2"}, "set": {"total": "-1"}},
         "change 2 (update): new row for relation \"orders\" violates check constraint "
         "\"orders_total_check\"; nothing was applied", None),
        ({"op": "insert", "values": {"customer_id": "1"}},
         "change 2 (insert): column 'total': null value in column \"total\" of relation "
         "\"orders\" violates not-null constraint; nothing was applied", "total"),
    ]
    for bad, message, culprit in cases:
        answer = call(studio_write, "POST", "/api/apply", changes(
            {"op": "update", "key": {"id": "1"}, "set": {"note": "should not stay"}}, bad))
        assert answer.status == 400, bad
        assert answer.error == message
        assert answer.json()["change"] == 1
        assert answer.json().get("column") == culprit
    assert admin(studio_database, "SELECT * FROM orders ORDER BY id") == before


def test_a_change_to_a_row_that_is_gone_fails_the_batch(studio_write: Studio) -> None:
    answer = call(studio_write, "POST", "/api/apply", changes(
        {"op": "update", "key": {"id": "424242"}, "set": {"note": "x"}}))
    assert answer.status == 409
    assert "no row has that key" in answer.error


def test_a_table_without_primary_key_is_read_only(studio_write: Studio) -> None:
    for path in ["/api/preview", "/api/apply"]:
        answer = call(studio_write, "POST", path, changes(
            {"op": "insert", "values": {"actor": "eve"}}, table="audit_log"))
        assert answer.status == 400
        assert answer.error.startswith("read-only: no primary key")


def test_edits_check_keys_and_columns(studio_write: Studio) -> None:
    for change, status, message in [
        ({"op": "update", "key": {"note": "x"}, "set": {"note": "y"}}, 400,
         "change 1 (update): the key must give exactly the primary key columns (id) "
         "of public.orders"),
        ({"op": "update", "key": {"id": "1"}, "set": {"nope": "y"}}, 404,
         "no column 'nope' in public.orders"),
        ({"op": "update", "key": {"id": "1"}, "set": {"total": 5}}, 400,
         "change 1 (update): the value of 'total' must be text or null"),
        ({"op": "upsert"}, 400, "change 1 (upsert): op must be 'update', 'insert' or 'delete'"),
    ]:
        answer = call(studio_write, "POST", "/api/preview", changes(change))
        assert (answer.status, answer.error) == (status, message)


def test_generated_columns_are_not_written(studio_write: Studio, studio_database: str) -> None:
    admin(studio_database, "CREATE TABLE IF NOT EXISTS gen (id int GENERATED ALWAYS AS "
                           "IDENTITY PRIMARY KEY, a int, b int GENERATED ALWAYS AS (a * 2) "
                           "STORED)")
    answer = call(studio_write, "POST", "/api/apply", changes(
        {"op": "insert", "values": {"a": "21", "b": "1"}}, table="gen"))
    assert answer.status == 400
    assert answer.error == "change 1 (insert): 'b' is generated by the database"
    answer = call(studio_write, "POST", "/api/apply", changes(
        {"op": "insert", "values": {"a": "21"}}, table="gen"))
    assert answer.json()["rows"][0][1:] == ["21", "42"]


# ------------------------------------------------------------------ migrations


def test_migrations_pane_without_a_project(tmp_path: Path, studio_database: str) -> None:
    with start_studio(studio_database, project=tmp_path) as running:
        answer = call(running, "GET", "/api/migrations")
    assert answer.status == 200
    pane = answer.json()
    assert pane["configured"] is False
    assert pane["applied"] == pane["pending"] == pane["mismatched"] == []
    assert pane["drift"] is None and pane["error"] is None
    assert "[tool.pgbuild]" in pane["hint"]


def test_migrations_pane_shows_applied_pending_mismatched_and_drift(
    tmp_path: Path, server_url: str
) -> None:
    from pgbuild.migrate import generate, load_config, up

    (tmp_path / "pyproject.toml").write_text(
        "[tool.pgbuild]\nschema = 'studio_pane_schema'\nmigrations = 'migrations'\n")
    module = tmp_path / "studio_pane_schema.py"
    module.write_text(
        "from pgbuild import Table, integer, text\n\n"
        "class Notes(Table, name='notes'):\n    id = integer().primary_key()\n")
    config = load_config(tmp_path)
    quiet = lambda line: None  # noqa: E731
    generate(config=config, name="notes", echo=quiet)
    with module.open("a") as f:
        f.write("\nclass Tags(Table, name='tags'):\n    id = integer().primary_key()\n"
                "    label = text()\n")
    with fresh_database(server_url, "studio_pane") as url:
        up(url, config=config, echo=quiet)
        generate(config=config, name="tags", echo=quiet)
        first = next(config.migrations.glob("0001_*.sql"))
        if first.name.endswith(".down.sql"):
            first = next(p for p in config.migrations.glob("0001_*.sql")
                         if not p.name.endswith(".down.sql"))
        first.write_text(first.read_text() + "\n-- edited after it was applied\n")
        with start_studio(url, project=tmp_path) as running:
            answer = call(running, "GET", "/api/migrations")
        assert answer.status == 200
        pane = answer.json()
    assert pane["configured"] is True and pane["error"] is None
    assert [m["name"] for m in pane["applied"]] == ["0001_notes"]
    assert pane["applied"][0]["applied_at"][:2] == "20"
    assert pane["pending"] == ["0002_tags"]
    assert pane["mismatched"] == ["0001_notes"]
    assert pane["drift"] == ["create table tags"]
    assert any("checksum mismatch" in p for p in pane["problems"])


# ------------------------------------------------------------------ the SQL console


def sql(studio: Studio, text: str, **options: Any) -> Any:
    return call(studio, "POST", "/api/sql", {"sql": text, **options})


def test_console_runs_one_statement_with_parameters(studio: Studio) -> None:
    answer = sql(studio, "SELECT id, name, joined_at FROM customers WHERE id = $1 "
                         "OR name = $2 ORDER BY id", params=["9223372036854775807", "Ann"])
    assert answer.status == 200
    assert answer.json() == {
        "columns": [{"name": "id", "type": "bigint"}, {"name": "name", "type": "text"},
                    {"name": "joined_at", "type": "timestamp with time zone"}],
        "rows": [["1", "Ann", "2024-03-01 18:04:56.789012+05:30"],
                 ["9223372036854775807", "Max", "1999-01-01 05:30:00+05:30"]],
        "rowcount": 2, "status": "SELECT 2", "truncated": False}


def test_console_shows_values_python_cannot_hold(studio: Studio) -> None:
    answer = sql(studio, "SELECT 'infinity'::date, '10000-01-01'::date AS far, "
                         "'NaN'::numeric, '{\"a\": 1}'::jsonb, NULL::text, 'sad'::mood, "
                         "'\\x01'::bytea")
    assert answer.json()["rows"] == [["infinity", "10000-01-01", "NaN", '{"a": 1}', None,
                                      "sad", "\\x01"]]


def test_console_explain_and_analyze(studio: Studio) -> None:
    plan = sql(studio, "SELECT * FROM orders WHERE id = $1", params=["1"], explain=True)
    assert plan.status == 200
    assert plan.json()["columns"] == [{"name": "QUERY PLAN", "type": "text"}]
    assert "orders" in plan.json()["rows"][0][0]
    analyzed = sql(studio, "SELECT count(*) FROM ranks", explain=True, analyze=True)
    text = "\n".join(r[0] for r in analyzed.json()["rows"])
    assert "actual time=" in text and "Execution Time" in text


def test_console_returns_at_most_1000_rows(studio: Studio) -> None:
    answer = sql(studio, "SELECT i FROM generate_series(1, 5000) i")
    result = answer.json()
    assert len(result["rows"]) == 1000 and result["truncated"] is True
    assert result["rows"][-1] == ["1000"]
    assert result["rowcount"] == 5000


def test_console_error_is_the_servers_message(studio: Studio) -> None:
    answer = sql(studio, "SELECT nope FROM orders")
    assert answer.status == 400
    assert answer.error == 'the statement failed: column "nope" does not exist'
    assert answer.json()["sqlstate"] == "42703"


def test_console_cancel_stops_a_running_statement(studio: Studio) -> None:
    outcome: dict[str, Any] = {}

    def run() -> None:
        started = time.monotonic()
        outcome["answer"] = sql(studio, "SELECT pg_sleep(30)", id="sleepy")
        outcome["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.3)
    for _ in range(50):  # until the statement is registered
        cancelled = call(studio, "POST", "/api/cancel", {"id": "sleepy"}).json()
        if cancelled["cancelled"]:
            break
        time.sleep(0.05)
    worker.join(10)
    assert cancelled == {"cancelled": True}
    assert outcome["seconds"] < 3
    assert outcome["answer"].status == 400
    assert "cancel" in outcome["answer"].error
    assert call(studio, "POST", "/api/cancel", {"id": "sleepy"}).json() == {"cancelled": False}


def test_statement_timeout_applies_to_every_query(studio_database: str) -> None:
    with start_studio(studio_database, timeout=0.5) as running:
        answer = sql(running, "SELECT pg_sleep(5)")
        shown = sql(running, "SHOW statement_timeout").json()["rows"]
    assert answer.status == 400
    assert "statement timeout" in answer.error
    assert shown == [["500ms"]]


def test_console_writes_with_write(studio_write: Studio, studio_database: str) -> None:
    answer = sql(studio_write, "INSERT INTO ranks VALUES ($1, NULL, 'console') RETURNING id",
                 params=["1000"])
    assert answer.status == 200
    assert answer.json()["status"] == "INSERT 0 1"
    assert admin(studio_database, "SELECT label FROM ranks WHERE id = 1000") == [("console",)]
    admin(studio_database, "DELETE FROM ranks WHERE id = 1000")
    # A SET in a write session does not outlive its statement either.
    assert sql(studio_write, "SET statement_timeout = 0").status == 200
    for _ in range(10):
        assert sql(studio_write, "SHOW statement_timeout").json()["rows"] == [["30s"]]


# ------------------------------------------------------------------ start-up


def test_the_connection_settings_keep_the_url_options() -> None:
    info = psycopg.conninfo.conninfo_to_dict(studio_conninfo(
        "postgresql://u@h/db?options=-c%20search_path%3Dapp", write=False, timeout=2.5))
    assert info["options"] == ("-c search_path=app -c default_transaction_read_only=on "
                               "-c statement_timeout=2500 -c bytea_output=hex")
    info = psycopg.conninfo.conninfo_to_dict(studio_conninfo("dbname=x", write=True,
                                                             timeout=30))
    assert info["options"] == "-c statement_timeout=30000 -c bytea_output=hex"


def test_the_url_comes_from_the_flag_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://plain/db")
    monkeypatch.setenv("DATABASE_DIRECT_URL", "postgresql://direct/db")
    assert resolve_url("postgresql://flag/db") == ("postgresql://flag/db", "--url")
    assert resolve_url(None) == ("postgresql://direct/db", "DATABASE_DIRECT_URL")
    monkeypatch.delenv("DATABASE_DIRECT_URL")
    assert resolve_url(None) == ("postgresql://plain/db", "DATABASE_URL")


def test_the_command_line_prints_the_url_and_serves(studio_database: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "pgbuild.studio", "--url", studio_database, "--port", "0",
         "--timeout", "5"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("pgbuild studio: http://127.0.0.1:")
        url = line.removeprefix("pgbuild studio: ")
        port = int(url.split(":")[2].split("/")[0])
        token = url.split("?token=")[1]
        running = Studio.__new__(Studio)
        running.port, running.token = port, token
        answer = call(running, "GET", "/api/schema")
        assert answer.status == 200
        assert answer.json()["read_only"] is True
    finally:
        process.terminate()
        process.wait(10)


def test_open_hands_the_url_with_its_token_to_the_browser(
    studio_database: str, tmp_path: Path
) -> None:
    # webbrowser runs $BROWSER with %s replaced by the URL: here, a script
    # that writes the URL down instead of opening a window.
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {opened}\n')
    browser.chmod(0o755)
    process = subprocess.Popen(
        [sys.executable, "-m", "pgbuild.studio", "--url", studio_database, "--open"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "BROWSER": f"{browser} %s"})
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().removeprefix("pgbuild studio: ")
        deadline = time.monotonic() + 10
        while not (opened.exists() and opened.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert opened.read_text() == url
        assert "?token=" in url
    finally:
        process.terminate()
        process.wait(10)
