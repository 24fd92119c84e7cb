"""Fixtures shared by the modules that work on the guide's tables: the
tables created once per module and emptied before each test, and a plain
psycopg connection to look at the database without pgbuild."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

import schema
from pgbuild import Database, sql


@pytest.fixture(scope="module", autouse=True)
def guide_tables(db: Database) -> Iterator[None]:
    """The guide's tables, created once for this module."""
    db.create_tables(*schema.TABLES)
    yield
    db.drop_tables(*schema.TABLES)


@pytest.fixture(autouse=True)
def empty_tables(db: Database) -> None:
    """Every test starts from empty tables."""
    db.execute(
        sql(
            "TRUNCATE claude_code_users, claude_code_sessions, claude_code_prompts, audit_logs"
            " CASCADE"
        )
    )


@pytest.fixture(scope="module")
def raw(database_url: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """A plain psycopg connection, to look at the database without pgbuild."""
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
def peek(raw: psycopg.Connection[dict[str, Any]]) -> Any:
    """``peek("SELECT ...", *params)`` → list of dicts, read with plain psycopg."""

    def run(query: str, *params: Any) -> list[dict[str, Any]]:
        return raw.execute(query, params).fetchall()

    return run
