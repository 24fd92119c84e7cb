"""Bad input gives a clear pgbuild error that names the culprit, and writes nothing.

Mistakes pgbuild can see (unknown columns, missing values, a query built
wrong) are :class:`pgbuild.QueryError`, raised before anything reaches the
server. Errors from the server are :class:`pgbuild.DatabaseError` (constraint
violations :class:`pgbuild.IntegrityError`), carrying the statement, the
SQLSTATE and the constraint, but not the parameter values unless the Database
was made with ``log_params=True``. Every one is a :class:`pgbuild.PgbuildError`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import pgbuild
from pgbuild import (
    Column,
    Database,
    IntegrityError,
    MultipleResultsError,
    NoResultError,
    PgbuildError,
    QueryError,
    Table,
    eq,
    integer,
    sql,
    text,
    unique,
)


class Accounts(Table, name="err_accounts"):
    id = integer().primary_key()
    email = text().not_null()
    name = text()

    __constraints__ = (unique(email, name="err_accounts_email_uq"),)


class Other(Table, name="err_other"):
    id = integer().primary_key()
    email = text()


SEED = [
    {"id": 1, "email": "ann@example.com", "name": "Ann"},
    {"id": 2, "email": "bob@example.com", "name": None},
]

# A value that must not leak into error messages unless asked for.
SECRET = "secret-7f3a9c@example.com"


@pytest.fixture(scope="module")
def tables(db: Database) -> None:
    db.create_tables(Accounts, Other)


@pytest.fixture
def accounts(db: Database, tables: None) -> Iterator[list[tuple[Any, ...]]]:
    """``err_accounts`` holding exactly SEED; yields its content as tuples."""
    db.delete(Accounts).execute()
    db.insert(Accounts).values(SEED).execute()
    before = content(db)
    assert before == [(r["id"], r["email"], r["name"]) for r in SEED]
    yield before


def content(db: Database) -> list[tuple[Any, ...]]:
    return (
        db.select(Accounts.id, Accounts.email, Accounts.name)
        .from_(Accounts)
        .order_by(Accounts.id)
        .all()
    )


def _duplicate_insert(database: Database) -> Any:
    """An insert whose email collides with SEED's first row."""
    return database.insert(Accounts).values({"id": 3, "email": "ann@example.com", "name": SECRET})


# ------------------------------------------------------ caught before the server


def test_unknown_column_in_insert_names_the_table_and_the_column(
    db: Database, accounts: list[tuple[Any, ...]]
) -> None:
    with pytest.raises(QueryError) as info:
        db.insert(Accounts).values({"id": 3, "email": "c@example.com", "nmae": "Cy"}).execute()
    assert "err_accounts" in str(info.value)
    assert "nmae" in str(info.value)
    assert content(db) == accounts


def test_unknown_column_in_update_set_names_the_table_and_the_column(
    db: Database, accounts: list[tuple[Any, ...]]
) -> None:
    with pytest.raises(QueryError) as info:
        db.update(Accounts).set({"name": "Zed", "emial": "z@example.com"}).where(
            eq(Accounts.id, 1)
        ).execute()
    assert "err_accounts" in str(info.value)
    assert "emial" in str(info.value)
    assert content(db) == accounts


def test_missing_not_null_column_names_it(db: Database, accounts: list[tuple[Any, ...]]) -> None:
    with pytest.raises(QueryError) as info:
        db.insert(Accounts).values({"id": 3, "name": "No Email"}).execute()
    assert "err_accounts" in str(info.value)
    assert "email" in str(info.value)
    assert content(db) == accounts


def test_not_null_column_given_as_none_names_it(
    db: Database, accounts: list[tuple[Any, ...]]
) -> None:
    with pytest.raises(QueryError, match="email"):
        db.insert(Accounts).values({"id": 3, "email": None}).execute()
    assert content(db) == accounts


def test_missing_not_null_column_in_one_row_of_many_inserts_none_of_them(
    db: Database, accounts: list[tuple[Any, ...]]
) -> None:
    rows = [
        {"id": 3, "email": "c@example.com"},
        {"id": 4, "name": "No Email"},
        {"id": 5, "email": "e@example.com"},
    ]
    with pytest.raises(QueryError, match="email"):
        db.insert(Accounts).values(rows).execute()
    assert content(db) == accounts  # neither row 3 nor row 5


def test_values_of_an_empty_list_is_an_error(db: Database, accounts: list[tuple[Any, ...]]) -> None:
    with pytest.raises(QueryError, match="err_accounts"):
        db.insert(Accounts).values([]).execute()
    assert content(db) == accounts


def test_a_column_of_another_table_in_values_is_an_error(
    db: Database, accounts: list[tuple[Any, ...]]
) -> None:
    with pytest.raises(QueryError) as info:
        row: dict[Column[Any], Any] = {Accounts.id: 3, Other.email: "c@example.com"}
        db.insert(Accounts).values(row).execute()
    assert "err_accounts" in str(info.value)
    assert "email" in str(info.value)
    assert content(db) == accounts


def test_all_on_an_insert_without_returning_is_an_error_and_inserts_nothing(
    db: Database, accounts: list[tuple[Any, ...]]
) -> None:
    with pytest.raises(QueryError, match="returning"):
        db.insert(Accounts).values({"id": 3, "email": "c@example.com"}).all()
    assert content(db) == accounts


def test_update_without_set_is_an_error(db: Database, accounts: list[tuple[Any, ...]]) -> None:
    with pytest.raises(QueryError, match=r"set"):
        db.update(Accounts).where(eq(Accounts.id, 1)).execute()
    assert content(db) == accounts


def test_select_without_from_is_an_error(db: Database) -> None:
    with pytest.raises(QueryError):
        db.select().all()  # type: ignore[attr-defined]


def test_sql_template_without_a_value_for_a_name_is_an_error() -> None:
    with pytest.raises(QueryError, match=r"\{x\}"):
        sql("SELECT {x}")


def test_sql_template_with_an_unused_value_is_an_error() -> None:
    with pytest.raises(QueryError, match="unused"):
        sql("SELECT 1", unused=1)


# ------------------------------------------------------------------- one()


def test_one_with_no_row_raises_no_result_error(
    db: Database, accounts: list[tuple[Any, ...]]
) -> None:
    with pytest.raises(NoResultError):
        db.select().from_(Accounts).where(eq(Accounts.id, 404)).one()


def test_one_with_two_rows_raises_multiple_results_error(
    db: Database, accounts: list[tuple[Any, ...]]
) -> None:
    with pytest.raises(MultipleResultsError):
        db.select().from_(Accounts).one()


def test_raw_sql_one_with_no_row_raises_no_result_error(db: Database) -> None:
    with pytest.raises(NoResultError):
        db.execute(sql("SELECT 1 AS x WHERE false")).one()


def test_raw_sql_one_with_two_rows_raises_multiple_results_error(db: Database) -> None:
    with pytest.raises(MultipleResultsError):
        db.execute(sql("SELECT * FROM (VALUES (1), (2)) AS t(x)")).one()


# --------------------------------------------------------------- from the server


def test_unique_violation_is_an_integrity_error_with_sqlstate_and_constraint(
    db: Database, accounts: list[tuple[Any, ...]]
) -> None:
    with pytest.raises(IntegrityError) as info:
        _duplicate_insert(db).execute()
    assert info.value.sqlstate == "23505"
    assert info.value.constraint == "err_accounts_email_uq"
    assert content(db) == accounts


def test_server_error_carries_the_statement_text(
    db: Database, accounts: list[tuple[Any, ...]]
) -> None:
    query = _duplicate_insert(db)
    with pytest.raises(IntegrityError) as info:
        query.execute()
    assert info.value.statement is not None
    assert info.value.statement == query.compile().as_string()
    assert 'INSERT INTO "err_accounts"' in info.value.statement


def test_server_error_keeps_the_psycopg_error_as_its_cause(
    db: Database, accounts: list[tuple[Any, ...]]
) -> None:
    with pytest.raises(IntegrityError) as info:
        _duplicate_insert(db).execute()
    cause = info.value.__cause__
    assert isinstance(cause, psycopg.errors.UniqueViolation)
    assert cause.diag.constraint_name == "err_accounts_email_uq"


def test_server_error_message_leaves_out_the_parameter_values(
    db: Database, accounts: list[tuple[Any, ...]]
) -> None:
    with pytest.raises(IntegrityError) as info:
        _duplicate_insert(db).execute()
    message = str(info.value)
    assert "err_accounts_email_uq" in message
    assert SECRET not in message
    assert "ann@example.com" not in message  # not even via the server's DETAIL line
    assert SECRET not in (info.value.statement or "")


def test_server_error_message_has_the_parameter_values_with_log_params(
    database_url: str, db: Database, accounts: list[tuple[Any, ...]]
) -> None:
    with Database(database_url, min_size=1, max_size=1, log_params=True) as loud:
        with pytest.raises(IntegrityError) as info:
            _duplicate_insert(loud).execute()
    assert SECRET in str(info.value)
    assert content(db) == accounts


def test_multi_row_insert_with_a_violation_in_the_second_row_inserts_nothing(
    db: Database, accounts: list[tuple[Any, ...]]
) -> None:
    rows = [
        {"id": 3, "email": "c@example.com"},
        {"id": 4, "email": "bob@example.com"},  # taken by SEED
        {"id": 5, "email": "e@example.com"},
    ]
    with pytest.raises(IntegrityError):
        db.insert(Accounts).values(rows).execute()
    assert content(db) == accounts


def test_not_null_violation_from_the_server_names_the_column_and_updates_nothing(
    db: Database, accounts: list[tuple[Any, ...]]
) -> None:
    # update().set() leaves NOT NULL to the server; the error still names the culprit.
    with pytest.raises(IntegrityError) as info:
        db.update(Accounts).set({"email": None}).execute()
    assert info.value.sqlstate == "23502"
    assert "email" in str(info.value)
    assert content(db) == accounts


def test_other_server_errors_are_database_errors_not_integrity_errors(db: Database) -> None:
    with pytest.raises(pgbuild.DatabaseError) as info:
        db.execute(sql("SELECT 1 / {zero} AS x", zero=0))
    assert not isinstance(info.value, IntegrityError)
    assert info.value.sqlstate == "22012"  # division_by_zero
    assert isinstance(info.value.__cause__, psycopg.errors.DivisionByZero)


# ------------------------------------------------------------- the connection


def test_a_statement_on_a_closed_database_is_an_error_not_a_hang(database_url: str) -> None:
    closed = Database(database_url, min_size=1, max_size=1, timeout=30)
    closed.close()
    started = time.monotonic()
    with pytest.raises(PgbuildError, match="closed"):
        closed.execute(sql("SELECT 1"))
    assert time.monotonic() - started < 5


def test_a_malformed_url_is_an_error() -> None:
    with pytest.raises(PgbuildError, match="URL"):
        Database("not a url ://")


def test_no_url_and_no_database_url_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(PgbuildError, match="DATABASE_URL"):
        Database()


@pytest.mark.parametrize(
    "error",
    [
        pgbuild.SchemaError,
        pgbuild.QueryError,
        pgbuild.DatabaseError,
        pgbuild.IntegrityError,
        pgbuild.NoResultError,
        pgbuild.MultipleResultsError,
        pgbuild.TransactionRollback,
    ],
)
def test_every_pgbuild_error_is_a_pgbuild_error(error: type[Exception]) -> None:
    assert issubclass(error, PgbuildError)
