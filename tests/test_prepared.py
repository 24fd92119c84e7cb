"""Prepared queries: compile once, fill placeholders by name, one SQL text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pgbuild import Database, QueryError, eq, placeholder, sql
from schema import TABLES, Users


@pytest.fixture(scope="module")
def one_conn(database_url: str) -> Iterator[Database]:
    """A pool of exactly one connection, so its prepared statements can be seen."""
    with Database(database_url, min_size=1, max_size=1) as database:
        database.create_tables(*TABLES)
        yield database


@pytest.fixture(autouse=True)
def empty(one_conn: Database) -> None:
    one_conn.execute(sql("TRUNCATE claude_code_users CASCADE"))


def test_a_prepared_query_run_1000_times_is_one_prepared_statement(one_conn: Database) -> None:
    one_conn.insert(Users).values(
        [{"id": f"u{i}", "email": f"u{i}@x.com"} for i in range(10)]
    ).execute()
    by_id = one_conn.select(Users.email).from_(Users).where(eq(Users.id, placeholder("id")))
    prepared = by_id.prepare()
    emails = [prepared.scalar(id=f"u{i % 10}") for i in range(1000)]
    assert emails == [f"u{i % 10}@x.com" for i in range(1000)]
    statements = one_conn.execute(
        sql("SELECT statement FROM pg_prepared_statements WHERE statement LIKE {p}",
            p='%FROM "claude_code_users" WHERE%')
    ).all()
    assert len(statements) == 1
    assert "$1" in statements[0].statement


def test_placeholders_fill_values_set_limit_and_offset(one_conn: Database) -> None:
    insert = one_conn.insert(Users).values(
        {"id": placeholder("id"), "email": placeholder("email")}
    ).prepare()
    for i in range(5):
        insert.execute(id=f"u{i}", email=f"u{i}@x.com")
    rename = one_conn.update(Users).set({"name": placeholder("name")}).where(
        eq(Users.id, placeholder("id"))
    ).returning(Users.name).prepare()
    assert rename.one(id="u3", name="Ann") == ("Ann",)
    page = one_conn.select(Users.id).from_(Users).order_by(Users.id).limit(
        placeholder("limit")
    ).offset(placeholder("offset")).prepare()
    assert page.all(limit=2, offset=1) == [("u1",), ("u2",)]
    assert page.all(limit=1, offset=4) == [("u4",)]


def test_missing_and_unknown_placeholders_are_named(one_conn: Database) -> None:
    prepared = one_conn.select().from_(Users).where(eq(Users.id, placeholder("id"))).prepare()
    assert prepared.placeholders == {"id"}
    with pytest.raises(QueryError, match=r"missing placeholder values: \['id'\]"):
        prepared.all()
    with pytest.raises(QueryError, match=r"unknown placeholders: \['idd'\]"):
        prepared.all(id="u1", idd="u2")


def test_an_unfilled_placeholder_never_reaches_the_server(one_conn: Database) -> None:
    insert = one_conn.insert(Users).values({"id": placeholder("id"), "email": "a@x.com"})
    with pytest.raises(QueryError):
        insert.prepare().execute()
    assert one_conn.count(Users) == 0
