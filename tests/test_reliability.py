"""Bad input is refused with an error naming the culprit, and nothing is written;
transactions that conflict surface as a distinct, retryable error.

Already covered elsewhere (not repeated here): unknown columns in values/set,
a missing NOT NULL value, ``one()`` on zero or several rows, constraint
violations with SQLSTATE/constraint/``__cause__``, values kept out of messages
without ``log_params``, a malformed URL and a closed ``Database``
(tests/test_errors.py); an unfilled or unknown placeholder
(tests/test_prepared.py); empty and over-63-byte table, column, schema, index
and check names (tests/test_table.py).

Here:

- A value whose Python type plainly does not fit its column (``str`` for an
  ``integer``, ``int`` for ``text``, ``bool`` for an ``integer``, ``str`` for
  ``bytea``...), an ``int`` beyond the column's range, or a ``str`` holding a
  NUL byte is a :class:`pgbuild.QueryError` naming table, column and type,
  raised before the server: in insert values, update set, upsert set and
  ``copy_into``. Left to itself the server would store some of them silently
  (``"12"`` as 12, ``"yes"`` as true, ``5`` as ``"5"``, ``"\\x41"`` as
  ``b"A"``). Values whose fit pgbuild cannot judge cheaply (a ``str`` for a
  timestamp or uuid) go to the server, whose error comes back as a
  :class:`pgbuild.DatabaseError` naming the bound parameter, or the column
  when the server names it.
- A NUL byte anywhere else (where, ``sql(...)``, placeholders) is a
  :class:`QueryError` naming the parameter: psycopg refuses it before sending.
- ``SerializationError`` (40001, 40P01) and ``run_in_transaction`` with
  real conflicting transactions, sync and async.
- A transaction block that catches a failed statement's error and ends
  normally is rolled back and raises: it never looks committed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pgbuild
from pgbuild import (
    AsyncDatabase,
    Database,
    DatabaseError,
    IntegrityError,
    PgbuildError,
    QueryError,
    SerializationError,
    Table,
    bigint,
    boolean,
    bytea,
    double_precision,
    eq,
    integer,
    jsonb,
    numeric,
    placeholder,
    smallint,
    sql,
    text,
    timestamp,
    uuid,
    varchar,
)
from pgbuild.queries.insert import Insert
from tests.conftest import fresh_database


class Typed(Table, name="rel_typed"):
    id = integer().primary_key()
    small = smallint()
    big = bigint()
    flag = boolean()
    amount = numeric(12, 2)
    ratio = double_precision()
    label = text()
    code = varchar(10)
    blob = bytea()
    at = timestamp()
    ident = uuid()
    doc = jsonb()
    tags = text().array()


class Counters(Table, name="rel_counters"):
    id = integer().primary_key()
    n = integer().not_null()


@pytest.fixture(scope="module")
def tables(db: Database) -> None:
    db.create_tables(Typed, Counters)


@pytest.fixture
def typed(db: Database, tables: None) -> Iterator[None]:
    """rel_typed holds one row, id 1, whose label is "kept"."""
    db.delete(Typed).execute()
    db.insert(Typed).values({"id": 1, "label": "kept"}).execute()
    yield


def rows(db: Database) -> list[Any]:
    return db.select().from_(Typed).order_by(Typed.id).all()


def unchanged(db: Database) -> bool:
    return [(r.id, r.label) for r in rows(db)] == [(1, "kept")] and all(
        getattr(r, c) is None
        for r in rows(db)
        for c in ("small", "big", "flag", "amount", "ratio", "code", "blob", "at", "doc")
    )


# ------------------------------------------------------------ wrong Python types

WRONG_TYPES = [
    pytest.param("id", "12", "integer", id="str for integer"),
    pytest.param("id", True, "integer", id="bool for integer"),
    pytest.param("id", 1.5, "integer", id="float for integer"),
    pytest.param("id", Decimal("2"), "integer", id="Decimal for integer"),
    pytest.param("small", "1", "smallint", id="str for smallint"),
    pytest.param("big", "10", "bigint", id="str for bigint"),
    pytest.param("big", {"n": 1}, "bigint", id="dict for bigint"),
    pytest.param("flag", "yes", "boolean", id="str for boolean"),
    pytest.param("flag", 1, "boolean", id="int for boolean"),
    pytest.param("amount", "1.50", "numeric(12,2)", id="str for numeric"),
    pytest.param("amount", False, "numeric(12,2)", id="bool for numeric"),
    pytest.param("ratio", "0.5", "double precision", id="str for double"),
    pytest.param("label", 5, "text", id="int for text"),
    pytest.param("label", b"x", "text", id="bytes for text"),
    pytest.param("label", UUID(int=1), "text", id="UUID for text"),
    pytest.param("code", 7, "character varying(10)", id="int for varchar"),
    pytest.param("blob", "\\x41", "bytea", id="str for bytea"),
]


def _message_names_it(error: Exception, attr: str, sql_type: str, value: Any) -> None:
    message = str(error)
    assert f"rel_typed.{attr}" in message
    assert sql_type in message
    assert type(value).__name__ in message


@pytest.mark.parametrize(("attr", "value", "sql_type"), WRONG_TYPES)
def test_a_wrong_python_type_in_insert_values_is_refused_before_the_server(
    db: Database, typed: None, attr: str, value: Any, sql_type: str
) -> None:
    with pytest.raises(QueryError) as info:
        db.insert(Typed).values({"id": 2, attr: value} if attr != "id" else {attr: value})
    _message_names_it(info.value, attr, sql_type, value)
    assert unchanged(db)


@pytest.mark.parametrize(("attr", "value", "sql_type"), WRONG_TYPES)
def test_a_wrong_python_type_in_update_set_is_refused_before_the_server(
    db: Database, typed: None, attr: str, value: Any, sql_type: str
) -> None:
    with pytest.raises(QueryError) as info:
        db.update(Typed).set({attr: value}).where(eq(Typed.id, 1))
    _message_names_it(info.value, attr, sql_type, value)
    assert unchanged(db)


def test_a_wrong_python_type_in_an_upsert_set_or_copy_is_refused(
    db: Database, typed: None
) -> None:
    with pytest.raises(QueryError, match=r"rel_typed\.small"):
        db.insert(Typed).values({"id": 1}).on_conflict_do_update(
            target=Typed.id, set={"small": "3"}
        )
    with pytest.raises(QueryError, match=r"rel_typed\.flag"):
        db.copy_into(Typed, [{"id": 2, "flag": True}, {"id": 3, "flag": "no"}])
    assert unchanged(db)


def test_a_wrong_type_in_the_second_of_many_rows_writes_no_row(
    db: Database, typed: None
) -> None:
    with pytest.raises(QueryError, match=r"rel_typed\.small"):
        db.insert(Typed).values([{"id": 2, "small": 1}, {"id": 3, "small": "2"}]).execute()
    assert unchanged(db)


def test_values_of_a_fitting_type_are_accepted(db: Database, typed: None) -> None:
    class Label(str):
        """A str subclass (an enum's value, a tagged string) is still a str."""

    row = {
        "id": 2,
        "small": -(2**15),
        "big": 2**63 - 1,
        "flag": False,
        "amount": 3,  # an int for numeric
        "ratio": Decimal("0.25"),  # a Decimal for double precision
        "label": Label("tagged"),
        "code": "short",
        "blob": bytearray(b"\x00\x01"),
        "at": None,
        "ident": "00000000-0000-0000-0000-000000000001",  # a str for uuid: the server parses it
    }
    got = db.insert(Typed).values(row).returning().one()
    assert (got.small, got.big, got.flag, got.amount, got.ratio) == (
        -(2**15), 2**63 - 1, False, Decimal("3.00"), 0.25,
    )
    assert (got.label, got.blob, got.ident) == ("tagged", b"\x00\x01", UUID(int=1))
    # Expressions and placeholders are not values: nothing to check.
    db.update(Typed).set({"small": sql("{n}::int + 1", n=1)}).where(eq(Typed.id, 2)).execute()
    assert db.select(Typed.small).from_(Typed).where(eq(Typed.id, 2)).one() == (2,)
    prepared = db.update(Typed).set({"big": placeholder("big")}).where(eq(Typed.id, 2)).prepare()
    assert prepared.execute(big=7) == 1


@pytest.mark.parametrize(
    ("attr", "low", "high"),
    [("small", -(2**15), 2**15), ("id", -(2**31), 2**31), ("big", -(2**63), 2**63)],
)
def test_an_int_out_of_the_columns_range_is_refused_naming_the_range(
    db: Database, typed: None, attr: str, low: int, high: int
) -> None:
    for bad in (high, low - 1):
        with pytest.raises(QueryError) as info:
            db.insert(Typed).values({"id": 2, attr: bad} if attr != "id" else {attr: bad})
        assert f"rel_typed.{attr}" in str(info.value)
        assert f"{low} to {high - 1}" in str(info.value)
        assert str(bad) not in str(info.value).replace(f"{low} to {high - 1}", "")
        with pytest.raises(QueryError, match=f"rel_typed.{attr}"):
            db.insert(Typed).values([{"id": 7, attr: 0}, {"id": 8, attr: bad}])
    assert unchanged(db)
    if attr != "id":  # the limits themselves fit
        db.insert(Typed).values([{"id": 2, attr: low}, {"id": 3, attr: high - 1}]).execute()


MIXED = st.sampled_from(
    [None, 0, 1, -(2**15) - 1, 2**31, 2**63, True, 1.5, Decimal("1"), "1", "a\x00", "", b"x",
     UUID(int=1), {"k": 1}]
)


@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {"id": st.just(1)},
            optional={a: MIXED for a in ("small", "big", "flag", "amount", "label", "blob")},
        ),
        min_size=2,
        max_size=5,
    )
)
def test_many_rows_are_refused_exactly_when_one_of_them_alone_is(
    rows: list[dict[str, Any]],
) -> None:
    # Many rows are checked a column at a time; one row value by value.
    def refused(batch: list[dict[str, Any]]) -> bool:
        try:
            Insert(None, Typed).values(batch)
        except QueryError:
            return True
        return False

    alone = [refused([row]) for row in rows]
    assert refused(rows) == any(alone)


def test_an_unknown_column_in_where_is_an_attribute_error_at_once() -> None:
    with pytest.raises(AttributeError, match="nope"):
        Typed.nope  # type: ignore[attr-defined]  # noqa: B018


# ------------------------------------------------------------ left to the server


def test_a_malformed_str_for_a_timestamp_is_the_servers_error_naming_the_parameter(
    db: Database, typed: None
) -> None:
    with pytest.raises(DatabaseError) as info:
        db.insert(Typed).values({"id": 2, "label": "x", "at": "not a time"}).execute()
    error = info.value
    assert error.sqlstate == "22007"  # invalid_datetime_format
    assert isinstance(error.__cause__, psycopg.errors.InvalidDatetimeFormat)
    assert "timestamp with time zone" in str(error)
    assert "parameter $3" in str(error)  # id, label, at
    assert "not a time" not in str(error)  # values only with log_params
    assert unchanged(db)


def test_a_type_the_server_refuses_for_a_column_names_the_column(
    db: Database, typed: None
) -> None:
    with pytest.raises(DatabaseError) as info:
        db.update(Typed).set({"ident": 12}).where(eq(Typed.id, 1)).execute()
    assert info.value.sqlstate == "42804"  # datatype_mismatch
    assert 'column "ident"' in str(info.value)
    assert unchanged(db)


# ------------------------------------------------------------ NUL bytes

NUL = "before\x00after"


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda db: db.insert(Typed).values({"id": 2, "label": NUL}), id="insert"),
        pytest.param(
            lambda db: db.insert(Typed).values([{"id": 2, "code": "a"}, {"id": 3, "code": NUL}]),
            id="insert many",
        ),
        pytest.param(
            lambda db: db.update(Typed).set({"label": NUL}).where(eq(Typed.id, 1)), id="update"
        ),
        pytest.param(
            lambda db: db.insert(Typed).values({"id": 1}).on_conflict_do_update(
                target=Typed.id, set={"label": NUL}
            ),
            id="upsert",
        ),
        pytest.param(lambda db: db.copy_into(Typed, [{"id": 2, "label": NUL}]), id="copy"),
    ],
)
def test_a_nul_byte_in_a_written_str_is_refused_naming_table_and_column(
    db: Database, typed: None, write: Callable[[Database], Any]
) -> None:
    with pytest.raises(QueryError) as info:
        write(db).execute()
    message = str(info.value)
    assert "NUL" in message
    assert "rel_typed.label" in message or "rel_typed.code" in message
    assert NUL not in message
    assert unchanged(db)


@pytest.mark.parametrize(
    ("run", "parameter"),
    [
        pytest.param(
            lambda db: db.select().from_(Typed).where(eq(Typed.label, NUL)).all(), "$1",
            id="where",
        ),
        pytest.param(lambda db: db.execute(sql("SELECT {a}::text AS a", a=NUL)), "$1", id="sql"),
        pytest.param(
            lambda db: db.select().from_(Typed).where(eq(Typed.label, placeholder("v")))
            .prepare().all(v=NUL),
            "$1",
            id="placeholder",
        ),
        pytest.param(
            lambda db: db.insert(Typed).values(
                {"id": placeholder("id"), "label": placeholder("v")}
            ).prepare().execute(id=2, v=NUL),
            "$2",
            id="placeholder in values",
        ),
    ],
)
def test_a_nul_byte_in_any_other_value_is_a_query_error_naming_the_parameter(
    db: Database, typed: None, run: Callable[[Database], Any], parameter: str
) -> None:
    with pytest.raises(QueryError) as info:
        run(db)
    assert "NUL" in str(info.value)
    assert f"parameter {parameter}" in str(info.value)
    assert "nothing was sent" in str(info.value)
    assert unchanged(db)


SURROGATE = "a\ud800b"  # a lone surrogate: a Python str that UTF-8 cannot hold


@pytest.mark.parametrize(
    "run",
    [
        pytest.param(lambda db: db.insert(Typed).values({"id": 2, "label": SURROGATE}).execute(),
                     id="insert"),
        pytest.param(
            lambda db: db.insert(Typed).values(
                [{"id": 2, "label": "a"}, {"id": 3, "label": SURROGATE}]
            ).execute(),
            id="insert many",
        ),
        pytest.param(lambda db: db.select().from_(Typed).where(eq(Typed.label, SURROGATE)).all(),
                     id="where"),
        pytest.param(lambda db: db.execute(sql("SELECT {a}::text AS a", a=SURROGATE)), id="sql"),
        pytest.param(lambda db: list(db.select().from_(Typed)
                                     .where(eq(Typed.label, SURROGATE)).iter()), id="iter"),
        pytest.param(lambda db: db.copy_into(Typed, [{"id": 2, "label": SURROGATE}]), id="copy"),
    ],
)
def test_a_str_utf8_cannot_encode_is_a_query_error_and_sends_nothing(
    db: Database, typed: None, run: Callable[[Database], Any]
) -> None:
    with pytest.raises(QueryError, match=r"lone surrogate.*nothing was sent"):
        run(db)
    assert unchanged(db)


def test_a_nul_inside_a_jsonb_document_is_the_servers_error_and_writes_nothing(
    db: Database, typed: None
) -> None:
    with pytest.raises(DatabaseError) as info:
        db.insert(Typed).values({"id": 2, "doc": {"k": NUL}}).execute()
    assert info.value.sqlstate == "22P05"  # jsonb cannot hold \u0000
    assert unchanged(db)


def test_a_nul_in_a_transaction_leaves_the_transaction_usable(db: Database, typed: None) -> None:
    with db.transaction() as tx:
        tx.insert(Typed).values({"id": 2, "label": "in tx"}).execute()
        with pytest.raises(QueryError):
            tx.select().from_(Typed).where(eq(Typed.label, NUL)).all()
        tx.insert(Typed).values({"id": 3, "label": "still in tx"}).execute()
    assert [r.id for r in rows(db)] == [1, 2, 3]


# ------------------------------------------------------------ the hierarchy


def test_the_error_hierarchy_is_exported_and_documented() -> None:
    errors = [
        getattr(pgbuild, name)
        for name in pgbuild.__all__
        if isinstance(getattr(pgbuild, name), type)
        and issubclass(getattr(pgbuild, name), Exception)
    ]
    assert SerializationError in errors
    assert issubclass(SerializationError, DatabaseError)
    assert all(issubclass(e, PgbuildError) for e in errors)
    documented = pgbuild.errors.__doc__ or ""
    assert [e.__name__ for e in errors if e.__name__ not in documented] == []


def test_a_statement_on_a_closed_async_database_is_an_error(conflict_url: str) -> None:
    async def main() -> None:
        adb = AsyncDatabase(conflict_url, min_size=1, max_size=1)
        await adb.open()
        await adb.close()
        with pytest.raises(PgbuildError, match="closed"):
            await adb.execute(sql("SELECT 1 AS one"))

    asyncio.run(asyncio.wait_for(main(), 10))


# ------------------------------------------------------------ a caught failure


def test_a_block_that_catches_a_failed_statement_is_rolled_back_and_raises(
    db: Database, typed: None
) -> None:
    with pytest.raises(IntegrityError) as info:
        with db.transaction() as tx:
            tx.insert(Typed).values({"id": 2, "label": "lost"}).execute()
            try:
                tx.insert(Typed).values({"id": 1}).execute()  # duplicate key
            except IntegrityError:
                pass  # PostgreSQL has aborted the transaction anyway
            with pytest.raises(DatabaseError) as aborted:
                tx.insert(Typed).values({"id": 3, "label": "lost too"}).execute()
            assert aborted.value.sqlstate == "25P02"  # in_failed_sql_transaction
    # The error names the statement that aborted the transaction, not a later one.
    assert "rolled back, not committed" in str(info.value)
    assert info.value.sqlstate == "23505"
    assert unchanged(db)


def test_a_savepoint_that_catches_a_failed_statement_raises_and_the_outer_goes_on(
    db: Database, typed: None
) -> None:
    with db.transaction() as tx:
        tx.insert(Typed).values({"id": 2, "label": "outer"}).execute()
        with pytest.raises(IntegrityError, match="savepoint was rolled back"):
            with tx.transaction() as inner:
                inner.insert(Typed).values({"id": 3, "label": "inner"}).execute()
                try:
                    inner.insert(Typed).values({"id": 1}).execute()
                except IntegrityError:
                    pass
        tx.insert(Typed).values({"id": 4, "label": "outer again"}).execute()
    assert [r.id for r in rows(db)] == [1, 2, 4]


# ------------------------------------------------------------ serialization failures


@pytest.fixture(scope="module")
def conflict_url(server_url: str) -> Iterator[str]:
    """A database of its own for the conflict tests, which open their own
    pools (sync or async) rather than the module's ``db``: they run once."""
    with fresh_database(server_url, "conflicts") as url:
        with Database(url, min_size=1, max_size=1) as setup:
            setup.create_tables(Counters)
        yield url


@pytest.fixture
def counters(conflict_url: str) -> str:
    """Two counters at 0; the URL of their database."""
    with psycopg.connect(conflict_url, autocommit=True) as conn:
        conn.execute("DELETE FROM rel_counters")
        conn.execute("INSERT INTO rel_counters (id, n) VALUES (1, 0), (2, 0)")
    return conflict_url


def _counts(url: str) -> list[int]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT n FROM rel_counters ORDER BY id").fetchall()
    return [n for (n,) in rows]


def _conflict(
    calls: list[int], k: int, barrier: Any, deadlock: bool
) -> Callable[[Any], Any]:
    """A transaction body for thread/task ``k``: read, meet the other at the
    barrier (first attempt only), then write. Two of them in ``serializable``
    both read before either writes: the second writer fails with 40001. With
    ``deadlock``, each locks its own row then the other's: one fails, 40P01."""

    def body(tx: Any) -> Any:
        calls[k] += 1
        first = calls[k] == 1
        if deadlock:
            tx.execute(sql("SET LOCAL deadlock_timeout = '50ms'"))
            mine, other = (1, 2) if k == 0 else (2, 1)
            tx.update(Counters).set({"n": sql("n + 1")}).where(eq(Counters.id, mine)).execute()
            if first:
                barrier.wait(10)
            tx.update(Counters).set({"n": sql("n + 1")}).where(eq(Counters.id, other)).execute()
            return None
        n = tx.select(Counters.n).from_(Counters).where(eq(Counters.id, 1)).one()[0]
        if first:
            barrier.wait(10)
        tx.update(Counters).set({"n": n + 1}).where(eq(Counters.id, 1)).execute()
        return n

    return body


def _two_threads(work: Callable[[int], Any]) -> list[Any]:
    """Run work(0) and work(1) at once; each result, or the exception raised."""
    out: list[Any] = [None, None]

    def run(k: int) -> None:
        try:
            out[k] = work(k)
        except Exception as exc:
            out[k] = exc

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a transaction hung"
    return out


@pytest.mark.parametrize("deadlock", [False, True], ids=["40001", "40P01"])
def test_a_conflict_in_a_plain_transaction_is_a_serialization_error(
    counters: str, deadlock: bool
) -> None:
    with Database(counters, min_size=2, max_size=2) as db:
        calls, barrier = [0, 0], threading.Barrier(2)

        def work(k: int) -> Any:
            with db.transaction(isolation_level="serializable") as tx:
                return _conflict(calls, k, barrier, deadlock)(tx)

        outcomes = _two_threads(work)
        failed = [o for o in outcomes if isinstance(o, Exception)]
        assert len(failed) == 1, outcomes
        error = failed[0]
        assert isinstance(error, SerializationError)
        assert error.sqlstate == ("40P01" if deadlock else "40001")
        cause = error.__cause__
        assert isinstance(cause, psycopg.errors.DeadlockDetected if deadlock
                          else psycopg.errors.SerializationFailure)
        assert _counts(counters) == ([1, 1] if deadlock else [1, 0])  # the winner's work only


@pytest.mark.parametrize("deadlock", [False, True], ids=["40001", "40P01"])
def test_run_in_transaction_retries_the_loser_until_both_complete(
    counters: str, deadlock: bool
) -> None:
    with Database(counters, min_size=2, max_size=2) as db:
        calls, barrier = [0, 0], threading.Barrier(2)
        outcomes = _two_threads(
            lambda k: db.run_in_transaction(
                _conflict(calls, k, barrier, deadlock), isolation_level="serializable"
            )
        )
        assert not any(isinstance(o, Exception) for o in outcomes), outcomes
        # The winner ran once; the loser again. A loser's retry that starts
        # before the winner commits conflicts with it once more (40001), so
        # on a busy machine it may take a third run.
        assert min(calls) == 1 and max(calls) >= 2, calls
        assert _counts(counters) == ([2, 2] if deadlock else [2, 0])
        if not deadlock:
            assert sorted(outcomes) == [0, 1]  # the retry read the winner's commit


def test_run_in_transaction_without_retries_raises_the_serialization_error(
    counters: str,
) -> None:
    with Database(counters, min_size=2, max_size=2) as db:
        calls, barrier = [0, 0], threading.Barrier(2)
        outcomes = _two_threads(
            lambda k: db.run_in_transaction(
                _conflict(calls, k, barrier, False), retries=0, isolation_level="serializable"
            )
        )
        assert sorted(type(o).__name__ for o in outcomes) == ["SerializationError", "int"]
        assert calls == [1, 1]
        assert _counts(counters) == [1, 0]


def test_run_in_transaction_raises_other_errors_at_once_and_returns_fn_s_value(
    counters: str,
) -> None:
    with Database(counters, min_size=1, max_size=1) as db:
        calls = [0]

        def duplicate(tx: Any) -> None:
            calls[0] += 1
            tx.update(Counters).set({"n": 5}).where(eq(Counters.id, 2)).execute()
            tx.insert(Counters).values({"id": 1, "n": 9}).execute()

        with pytest.raises(IntegrityError):
            db.run_in_transaction(duplicate, retries=5)
        assert calls == [1]
        assert _counts(counters) == [0, 0]

        class Boom(Exception):
            pass

        def boom(tx: Any) -> None:
            calls[0] += 1
            raise Boom

        with pytest.raises(Boom):
            db.run_in_transaction(boom)
        assert calls == [2]
        assert db.run_in_transaction(lambda tx: tx.count(Counters)) == 2
        with pytest.raises(QueryError, match="retries"):
            db.run_in_transaction(lambda tx: None, retries=-1)


def test_many_conflicting_increments_all_land_with_retries(
    counters: str,
) -> None:
    with Database(counters, min_size=4, max_size=4) as db:

        def bump(tx: Any) -> None:
            n = tx.select(Counters.n).from_(Counters).where(eq(Counters.id, 1)).one()[0]
            tx.update(Counters).set({"n": n + 1}).where(eq(Counters.id, 1)).execute()

        def worker(k: int) -> None:
            for _ in range(10):
                db.run_in_transaction(bump, retries=50, isolation_level="serializable")

        threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert _counts(counters) == [40, 0]  # no increment lost, none doubled


# -- the async twin, natively on asyncio


def test_async_run_in_transaction_retries_a_real_conflict(counters: str) -> None:
    def conflict(calls: list[int], k: int, barrier: asyncio.Barrier) -> Any:
        async def body(tx: Any) -> int:
            calls[k] += 1
            row = await tx.select(Counters.n).from_(Counters).where(eq(Counters.id, 1)).one()
            if calls[k] == 1:
                await asyncio.wait_for(barrier.wait(), 10)
            await tx.update(Counters).set({"n": row[0] + 1}).where(eq(Counters.id, 1)).execute()
            return int(row[0])

        return body

    async def main() -> tuple[list[Any], list[Any], list[int], int]:
        async with AsyncDatabase(counters, min_size=2, max_size=2) as adb:
            calls, barrier = [0, 0], asyncio.Barrier(2)
            retried = await asyncio.gather(
                *(
                    adb.run_in_transaction(
                        conflict(calls, k, barrier), isolation_level="serializable"
                    )
                    for k in (0, 1)
                )
            )
            retried_calls = list(calls)
            calls, barrier = [0, 0], asyncio.Barrier(2)
            plain = await asyncio.gather(
                *(
                    adb.run_in_transaction(
                        conflict(calls, k, barrier), retries=0, isolation_level="serializable"
                    )
                    for k in (0, 1)
                ),
                return_exceptions=True,
            )
            final = (await adb.select(Counters.n).from_(Counters).where(eq(Counters.id, 1))
                     .one())[0]
            return retried, plain, retried_calls, final

    retried, plain, calls, final = asyncio.run(asyncio.wait_for(main(), 30))
    assert sorted(retried) == [0, 1] and sorted(calls) == [1, 2]
    errors = [o for o in plain if isinstance(o, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], SerializationError)
    assert errors[0].sqlstate == "40001"
    assert final == 3  # 2 from the retried pair, 1 from the plain pair's winner
